"""Just enough DER to classify key files and to open what cryptography cannot.

pyca/cryptography loads every RSA/EC key encoding rasign accepts, encrypted or not
(verified for each PBES2 PRF, AES-CBC key size and scrypt with openssl-made keys). It does
*not* load the ML-DSA "both" PKCS#8 encoding that OpenSSL 3.5 writes, and an encrypted
file hides the key type until it is decrypted. So this module has:

- the shared DER reader from :mod:`rasign.der` (definite lengths, single-byte tags);
- :func:`classify_der`, which tells PKCS#8, encrypted PKCS#8, PKCS#12, certificates and
  "something else" (PKCS#1/SEC1) apart without trying every loader in turn;
- :func:`decrypt_pbes2`, a PBES2 decryptor (PBKDF2 with HMAC-SHA1/224/256/384/512, or
  scrypt; AES-128/192/256-CBC) used only when cryptography decrypts nothing it can load.

Nothing here imports cryptography at module level: the CLI's cache-hit path stays cheap.
"""

from __future__ import annotations

import enum

from rasign.der import (
    DerError,
    Tlv,
    decode_int,
    decode_oid,
    expect,
    read_all,
    read_single,
    read_tlv,
)

__all__ = [
    "DerError",
    "DerKind",
    "Tlv",
    "UnsupportedEncryption",
    "WrongPassword",
    "algorithm_oid",
    "classify_der",
    "decode_int",
    "decode_oid",
    "decrypt_pbes2",
    "expect",
    "pkcs8_algorithm",
    "read_all",
    "read_single",
    "read_tlv",
]

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
OID = 0x06
NULL = 0x05
CONTEXT_0_PRIMITIVE = 0x80

PBES2 = "1.2.840.113549.1.5.13"
PBKDF2 = "1.2.840.113549.1.5.12"
SCRYPT = "1.3.6.1.4.1.11591.4.11"
PKCS7_DATA = "1.2.840.113549.1.7.1"
PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"

PRF_HASHES = {
    "1.2.840.113549.2.7": "SHA1",
    "1.2.840.113549.2.8": "SHA224",
    "1.2.840.113549.2.9": "SHA256",
    "1.2.840.113549.2.10": "SHA384",
    "1.2.840.113549.2.11": "SHA512",
}
"""PBKDF2 PRF OIDs (hmacWithSHA*); hmacWithSHA1 is the default when the PRF is absent."""

AES_CBC_KEY_SIZES = {
    "2.16.840.1.101.3.4.1.2": 16,
    "2.16.840.1.101.3.4.1.22": 24,
    "2.16.840.1.101.3.4.1.42": 32,
}

MAX_PBKDF2_ITERATIONS = 50_000_000
"""Refuse absurd work factors from a hostile file instead of spinning for hours."""


def algorithm_oid(item: Tlv, what: str) -> tuple[str, Tlv | None]:
    """Split an AlgorithmIdentifier into its OID and optional parameters."""
    parts = expect(item, SEQUENCE, what).children()
    if not parts:
        raise DerError(f"{what}: empty AlgorithmIdentifier")
    oid = decode_oid(expect(parts[0], OID, what).content)
    return oid, parts[1] if len(parts) > 1 else None


class DerKind(enum.Enum):
    """What a DER blob holds, judged from its outer structure only."""

    PKCS8 = "PKCS#8 private key"
    ENCRYPTED_PKCS8 = "encrypted PKCS#8 private key"
    PKCS12 = "PKCS#12 file"
    CERTIFICATE = "X.509 certificate"
    OTHER = "other"


def classify_der(data: bytes) -> DerKind:
    """Tell key-file encodings apart by their outer DER shape.

    PKCS#1 and SEC1 keys come back as OTHER: cryptography's loader recognises them, and
    guessing finer here would only duplicate it.
    """
    try:
        return _classify(data)
    except DerError:
        return DerKind.OTHER


def _classify(data: bytes) -> DerKind:
    parts = expect(read_single(data), SEQUENCE, "outer structure").children()
    if len(parts) < 2:
        return DerKind.OTHER
    first, second = parts[0], parts[1]
    if first.tag == INTEGER and second.tag == SEQUENCE:
        return _classify_versioned(parts)
    if first.tag == SEQUENCE and second.tag == OCTET_STRING and len(parts) == 2:
        return DerKind.ENCRYPTED_PKCS8
    if first.tag == SEQUENCE and second.tag == SEQUENCE and len(parts) == 3:
        return DerKind.CERTIFICATE
    return DerKind.OTHER


def _classify_versioned(parts: list[Tlv]) -> DerKind:
    """A SEQUENCE that opens with a version INTEGER: PKCS#12 (version 3) or PKCS#8 (0 or 1)."""
    version = decode_int(parts[0].content)
    inner = parts[1].children()
    if (
        version == 3
        and inner
        and inner[0].tag == OID
        and decode_oid(inner[0].content) in (PKCS7_DATA, PKCS7_SIGNED_DATA)
    ):
        return DerKind.PKCS12
    if version in (0, 1) and len(parts) >= 3 and parts[2].tag == OCTET_STRING:
        return DerKind.PKCS8
    return DerKind.OTHER


def pkcs8_algorithm(der: bytes) -> tuple[str, bytes]:
    """OID of a plain PKCS#8 key and the content of its ``privateKey`` OCTET STRING."""
    parts = expect(read_single(der), SEQUENCE, "PrivateKeyInfo").children()
    if len(parts) < 3:
        raise DerError("PrivateKeyInfo has fewer than three fields")
    expect(parts[0], INTEGER, "PrivateKeyInfo version")
    oid, _ = algorithm_oid(parts[1], "PrivateKeyInfo algorithm")
    return oid, expect(parts[2], OCTET_STRING, "PrivateKeyInfo privateKey").content


class WrongPassword(ValueError):
    """Decryption produced no valid plaintext: almost certainly a wrong password."""


class UnsupportedEncryption(ValueError):
    """The file is encrypted with a scheme this decryptor does not implement."""


def decrypt_pbes2(der: bytes, password: bytes) -> bytes:
    """Decrypt an EncryptedPrivateKeyInfo protected with PBES2 and return the PKCS#8 DER.

    Raises :class:`WrongPassword` when the padding or the plaintext structure is wrong,
    :class:`UnsupportedEncryption` for schemes outside PBES2/PBKDF2/scrypt/AES-CBC, and
    :class:`DerError` when the file itself is malformed.
    """
    parts = expect(read_single(der), SEQUENCE, "EncryptedPrivateKeyInfo").children()
    if len(parts) != 2:
        raise DerError("EncryptedPrivateKeyInfo must have two fields")
    scheme, params = algorithm_oid(parts[0], "encryption algorithm")
    ciphertext = expect(parts[1], OCTET_STRING, "encryptedData").content
    if scheme != PBES2 or params is None:
        raise UnsupportedEncryption(f"encryption scheme {scheme} (only PBES2 is supported here)")
    pbes2 = expect(params, SEQUENCE, "PBES2 parameters").children()
    if len(pbes2) != 2:
        raise DerError("PBES2 parameters must have two fields")
    cipher_oid, iv_item = algorithm_oid(pbes2[1], "PBES2 encryption scheme")
    key_size = AES_CBC_KEY_SIZES.get(cipher_oid)
    if key_size is None:
        raise UnsupportedEncryption(f"cipher {cipher_oid} (only AES-128/192/256-CBC are supported)")
    if iv_item is None:
        raise DerError("AES-CBC parameters lack the IV")
    iv = expect(iv_item, OCTET_STRING, "AES-CBC IV").content
    if len(iv) != 16:
        raise DerError(f"AES-CBC IV is {len(iv)} bytes, expected 16")
    key = _derive_key(pbes2[0], password, key_size)
    return _aes_cbc_decrypt(key, iv, ciphertext)


def _derive_key(kdf_item: Tlv, password: bytes, key_size: int) -> bytes:
    kdf_oid, kdf_params = algorithm_oid(kdf_item, "PBES2 key derivation function")
    if kdf_params is None:
        raise DerError("key derivation function has no parameters")
    fields = expect(kdf_params, SEQUENCE, "KDF parameters").children()
    if kdf_oid == PBKDF2:
        return _pbkdf2(fields, password, key_size)
    if kdf_oid == SCRYPT:
        return _scrypt(fields, password, key_size)
    raise UnsupportedEncryption(f"key derivation function {kdf_oid} (only PBKDF2 and scrypt are supported)")


def _pbkdf2(fields: list[Tlv], password: bytes, key_size: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    if len(fields) < 2:
        raise DerError("PBKDF2 parameters lack salt or iteration count")
    salt = expect(fields[0], OCTET_STRING, "PBKDF2 salt").content
    iterations = decode_int(expect(fields[1], INTEGER, "PBKDF2 iterations").content)
    if not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
        raise DerError(f"PBKDF2 iteration count {iterations} is out of range")
    prf = "SHA1"
    # Optional keyLength INTEGER, then optional prf AlgorithmIdentifier (the Go helper
    # mis-parses files carrying keyLength; reading by tag avoids that).
    for extra in fields[2:]:
        if extra.tag == INTEGER:
            declared = decode_int(extra.content)
            if declared != key_size:
                raise DerError(f"PBKDF2 keyLength {declared} does not match the cipher's {key_size}")
        elif extra.tag == SEQUENCE:
            prf_oid, _ = algorithm_oid(extra, "PBKDF2 PRF")
            if prf_oid not in PRF_HASHES:
                raise UnsupportedEncryption(f"PBKDF2 PRF {prf_oid} (hmacWithSHA1/224/256/384/512 are supported)")
            prf = PRF_HASHES[prf_oid]
    algorithm = getattr(hashes, prf)()
    return PBKDF2HMAC(algorithm=algorithm, length=key_size, salt=salt, iterations=iterations).derive(password)


def _scrypt(fields: list[Tlv], password: bytes, key_size: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    if len(fields) < 4:
        raise DerError("scrypt parameters need salt, N, r and p")
    salt = expect(fields[0], OCTET_STRING, "scrypt salt").content
    n, r, p = (decode_int(expect(item, INTEGER, "scrypt parameter").content) for item in fields[1:4])
    if len(fields) > 4:
        declared = decode_int(expect(fields[4], INTEGER, "scrypt keyLength").content)
        if declared != key_size:
            raise DerError(f"scrypt keyLength {declared} does not match the cipher's {key_size}")
    try:
        return Scrypt(salt=salt, length=key_size, n=n, r=r, p=p).derive(password)
    except (ValueError, MemoryError) as err:
        raise DerError(f"scrypt parameters N={n} r={r} p={p} are unusable: {err}") from err


def _aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not ciphertext or len(ciphertext) % 16:
        raise DerError(f"encrypted data is {len(ciphertext)} bytes, not a multiple of the AES block size")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError as err:
        raise WrongPassword("bad padding after decryption") from err
    # Padding can be valid by chance (about 1 in 256) with a wrong key; a plaintext that
    # is not a PrivateKeyInfo settles it.
    try:
        pkcs8_algorithm(plain)
    except DerError as err:
        raise WrongPassword("decrypted data is not a PKCS#8 key") from err
    return plain
