"""Builders for ML-DSA PKCS#8 files (plain "seed"/"both" shapes and PBES2-encrypted).

openssl 3.0 cannot write ML-DSA keys, so the DER is assembled here with a test-side
encoder; ``test_mldsa.test_pbes2_writer_is_readable_by_cryptography`` proves the
encryptor against cryptography's own reader.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import mldsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tests.files.helpers import tlv

VARIANTS = {
    # name: (cryptography class, OID body bytes, k, l, expanded key size)
    "ML-DSA-44": (mldsa.MLDSA44PrivateKey, bytes.fromhex("608648016503040311"), 4, 4, 2560),
    "ML-DSA-65": (mldsa.MLDSA65PrivateKey, bytes.fromhex("608648016503040312"), 6, 5, 4032),
    "ML-DSA-87": (mldsa.MLDSA87PrivateKey, bytes.fromhex("608648016503040313"), 8, 7, 4896),
}
PASSWORD = b"password"


def private_key_info(variant: str, inner: bytes) -> bytes:
    _, oid, *_ = VARIANTS[variant]
    algorithm = tlv(0x30, tlv(0x06, oid))
    return tlv(0x30, tlv(0x02, b"\x00") + algorithm + tlv(0x04, inner))


def expanded_key(variant: str, seed: bytes, public: bytes, *, tamper: bool = False) -> bytes:
    _, _, k, l, size = VARIANTS[variant]  # noqa: E741 - FIPS 204's (k, l)
    derived = hashlib.shake_256(seed + bytes([k, l])).digest(128)
    rho, big_k = derived[:32], derived[96:]
    if tamper:
        rho = bytes([rho[0] ^ 1]) + rho[1:]
    tr = hashlib.shake_256(public).digest(64)
    return rho + big_k + tr + os.urandom(size - 128)


def encodings(variant: str, key) -> dict[str, bytes]:
    seed = key.private_bytes_raw()
    public = key.public_key().public_bytes_raw()
    return {
        "seed": key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "both": private_key_info(variant, tlv(0x30, tlv(0x04, seed) + tlv(0x04, expanded_key(variant, seed, public)))),
    }


def pbes2_encrypt(pkcs8: bytes, password: bytes, kdf: str) -> bytes:
    """EncryptedPrivateKeyInfo with PBES2 (PBKDF2-HMAC-SHA256 or scrypt) and AES-256-CBC."""
    salt, iv = os.urandom(16), os.urandom(16)
    if kdf == "pbkdf2":
        key = PBKDF2HMAC(hashes.SHA256(), 32, salt, 2048).derive(password)
        prf = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d0209")) + tlv(0x05, b""))
        kdf_alg = tlv(
            0x30,
            tlv(0x06, bytes.fromhex("2a864886f70d01050c")) + tlv(0x30, tlv(0x04, salt) + tlv(0x02, b"\x08\x00") + prf),
        )
    else:
        key = Scrypt(salt, 32, 16384, 8, 1).derive(password)
        params = tlv(0x04, salt) + tlv(0x02, b"\x40\x00") + tlv(0x02, b"\x08") + tlv(0x02, b"\x01")
        kdf_alg = tlv(0x30, tlv(0x06, bytes.fromhex("2b06010401da47040b")) + tlv(0x30, params))
    cipher_alg = tlv(0x30, tlv(0x06, bytes.fromhex("60864801650304012a")) + tlv(0x04, iv))
    padder = sym_padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(pkcs8) + padder.finalize()) + encryptor.finalize()
    pbes2 = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d01050d")) + tlv(0x30, kdf_alg + cipher_alg))
    return tlv(0x30, pbes2 + tlv(0x04, ciphertext))


def pem(label: str, der: bytes) -> bytes:
    import base64
    import textwrap

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()
