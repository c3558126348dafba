"""ML-DSA-44/65/87 keys in every PKCS#8 shape, plain and encrypted, with ML-DSA certificates.

openssl on Debian 12 is 3.0 and knows nothing of ML-DSA, so keys, the DER around them
and the certificates are built here with cryptography (whose wheel bundles OpenSSL 3.5+).
The certificates are issued by the openssl-made root CA. The "both" encoding's expanded
key carries the parts derivable from the seed (rho, K, tr: what rasign cross-checks) and
random bytes where s1/s2/t0 would be, which nothing reads. Encrypted files come from a
small PBES2 writer below, first proven against cryptography's own PKCS#8 reader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os

import pytest

from rasign.errors import AuthenticationError, KeyLoadError
from rasign.signer import KeyKind, verify_signature
from tests.files.helpers import MESSAGE, open_file_signer, tlv

cryptography_backend = pytest.importorskip("cryptography.hazmat.backends.openssl.backend").backend
if not getattr(cryptography_backend, "mldsa_supported", lambda: False)():
    pytest.skip("this cryptography build has no ML-DSA (needs OpenSSL 3.5+)", allow_module_level=True)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import mldsa  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC  # noqa: E402
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt  # noqa: E402
from cryptography.hazmat.primitives import padding as sym_padding  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

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
    _, _, k, l, size = VARIANTS[variant]
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
        "seed": key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "both": private_key_info(variant, tlv(0x30, tlv(0x04, seed) + tlv(0x04, expanded_key(variant, seed, public)))),
    }


def pbes2_encrypt(pkcs8: bytes, password: bytes, kdf: str) -> bytes:
    """EncryptedPrivateKeyInfo with PBES2 (PBKDF2-HMAC-SHA256 or scrypt) and AES-256-CBC."""
    salt, iv = os.urandom(16), os.urandom(16)
    if kdf == "pbkdf2":
        key = PBKDF2HMAC(hashes.SHA256(), 32, salt, 2048).derive(password)
        prf = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d0209")) + tlv(0x05, b""))
        kdf_alg = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d01050c")) + tlv(0x30, tlv(0x04, salt) + tlv(0x02, b"\x08\x00") + prf))
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


def issue_mldsa_certificate(openssl_ca, public_key, path, *, self_signed_with=None):
    """A v3 client certificate for an ML-DSA public key, signed by the openssl root (RSA) or by itself."""
    now = dt.datetime.now(dt.timezone.utc)
    if self_signed_with is None:
        issuer_key = serialization.load_pem_private_key(openssl_ca.root_key.read_bytes(), None)
        issuer_name = x509.load_pem_x509_certificate(openssl_ca.root_cert.read_bytes()).subject
        algorithm = hashes.SHA256()
    else:
        issuer_key, algorithm = self_signed_with, None
        issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rasign ML-DSA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rasign ML-DSA")]))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .sign(issuer_key, algorithm)
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


@pytest.fixture(scope="module")
def mldsa_keys(openssl_ca, tmp_path_factory):
    directory = tmp_path_factory.mktemp("mldsa")
    made = {}
    for variant, (cls, *_rest) in VARIANTS.items():
        key = cls.generate()
        cert_path = directory / f"{variant}-cert.pem"
        issue_mldsa_certificate(openssl_ca, key.public_key(), cert_path)
        made[variant] = (key, cert_path, directory)
    return made


def test_pbes2_writer_is_readable_by_cryptography():
    """Proves the test-side encryptor before it is used on encodings cryptography cannot load."""
    key = mldsa.MLDSA44PrivateKey.generate()
    seed_only = encodings("ML-DSA-44", key)["seed"]
    for kdf in ("pbkdf2", "scrypt"):
        loaded = serialization.load_der_private_key(pbes2_encrypt(seed_only, PASSWORD, kdf), PASSWORD)
        assert loaded.private_bytes_raw() == key.private_bytes_raw()


@pytest.mark.parametrize("form", ["seed", "both"])
@pytest.mark.parametrize("armour", ["pem", "der"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_plain_mldsa_keys(mldsa_keys, variant, form, armour):
    key, cert_path, directory = mldsa_keys[variant]
    der = encodings(variant, key)[form]
    key_path = directory / f"{variant}-{form}.{armour}"
    key_path.write_bytes(pem("PRIVATE KEY", der) if armour == "pem" else der)
    with open_file_signer(certificate=str(cert_path), private_key=str(key_path)) as signer:
        assert signer.key_kind is KeyKind.MLDSA
        assert signer.algorithm == "AWS4-X509-MLDSA"
        for digest in ("SHA256", "SHA512"):  # pure ML-DSA: the digest does not apply
            signature = signer.sign(MESSAGE, digest)
            assert verify_signature(signer.certificate.public_key(), signature, MESSAGE)
            # Pure ML-DSA with an empty context, checked with cryptography directly.
            signer.certificate.public_key().verify(signature, MESSAGE)


@pytest.mark.parametrize("kdf", ["pbkdf2", "scrypt"])
@pytest.mark.parametrize("form", ["seed", "both"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_encrypted_mldsa_keys(mldsa_keys, variant, form, kdf):
    key, cert_path, directory = mldsa_keys[variant]
    encrypted = pbes2_encrypt(encodings(variant, key)[form], PASSWORD, kdf)
    key_path = directory / f"{variant}-{form}-{kdf}.pem"
    key_path.write_bytes(pem("ENCRYPTED PRIVATE KEY", encrypted))
    with open_file_signer(certificate=str(cert_path), private_key=str(key_path), pkcs8_password="password") as signer:
        assert signer.key_kind is KeyKind.MLDSA
        signature = signer.sign(MESSAGE)
        assert verify_signature(signer.certificate.public_key(), signature, MESSAGE)
    with pytest.raises(AuthenticationError, match="incorrect PKCS#8 private key password"):
        open_file_signer(certificate=str(cert_path), private_key=str(key_path), pkcs8_password="wrong")


def test_self_signed_mldsa_certificate(tmp_path):
    key = mldsa.MLDSA65PrivateKey.generate()
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    issue_mldsa_certificate(None, key.public_key(), cert_path, self_signed_with=key)
    key_path.write_bytes(pem("PRIVATE KEY", encodings("ML-DSA-65", key)["both"]))
    with open_file_signer(certificate=str(cert_path), private_key=str(key_path)) as signer:
        assert verify_signature(signer.certificate.public_key(), signer.sign(MESSAGE), MESSAGE)


def test_inconsistent_both_encoding_is_refused(tmp_path):
    key = mldsa.MLDSA44PrivateKey.generate()
    seed, public = key.private_bytes_raw(), key.public_key().public_bytes_raw()
    bad = private_key_info("ML-DSA-44", tlv(0x30, tlv(0x04, seed) + tlv(0x04, expanded_key("ML-DSA-44", seed, public, tamper=True))))
    key_path = tmp_path / "bad.pem"
    key_path.write_bytes(pem("PRIVATE KEY", bad))
    with pytest.raises(KeyLoadError, match="expanded key does not belong to its seed"):
        open_file_signer(private_key=str(key_path))


def test_expanded_only_encoding_is_refused_with_a_fix(tmp_path):
    key = mldsa.MLDSA44PrivateKey.generate()
    expanded = expanded_key("ML-DSA-44", key.private_bytes_raw(), key.public_key().public_bytes_raw())
    key_path = tmp_path / "expanded.pem"
    key_path.write_bytes(pem("PRIVATE KEY", private_key_info("ML-DSA-44", tlv(0x04, expanded))))
    with pytest.raises(KeyLoadError, match="only the expanded private key") as caught:
        open_file_signer(private_key=str(key_path))
    assert "seed" in caught.value.one_line()


def test_wrong_seed_length(tmp_path):
    key_path = tmp_path / "short.pem"
    key_path.write_bytes(pem("PRIVATE KEY", private_key_info("ML-DSA-87", tlv(0x80, b"\x01" * 31))))
    with pytest.raises(KeyLoadError, match="invalid seed length for ML-DSA-87: got 31, want 32"):
        open_file_signer(private_key=str(key_path))


def test_mldsa_key_with_another_variants_certificate_is_refused(mldsa_keys, tmp_path):
    """The Go helper's tests accept an ML-DSA-44 certificate with an ML-DSA-65 key; rasign refuses it."""
    key65, _, _ = mldsa_keys["ML-DSA-65"]
    _, cert44, _ = mldsa_keys["ML-DSA-44"]
    key_path = tmp_path / "k65.pem"
    key_path.write_bytes(pem("PRIVATE KEY", encodings("ML-DSA-65", key65)["both"]))
    with pytest.raises(KeyLoadError, match="does not match the certificate"):
        open_file_signer(certificate=str(cert44), private_key=str(key_path))
