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

import pytest

from rasign.errors import AuthenticationError, KeyLoadError
from rasign.signer import KeyKind, verify_signature
from tests.files.helpers import MESSAGE, open_file_signer, tlv

cryptography_backend = pytest.importorskip("cryptography.hazmat.backends.openssl.backend").backend
if not getattr(cryptography_backend, "mldsa_supported", lambda: False)():
    pytest.skip("this cryptography build has no ML-DSA (needs OpenSSL 3.5+)", allow_module_level=True)

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import mldsa
from cryptography.x509.oid import NameOID

from tests.files.mldsa_files import (
    PASSWORD,
    VARIANTS,
    encodings,
    expanded_key,
    pbes2_encrypt,
    pem,
    private_key_info,
)


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
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
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
    bad = private_key_info(
        "ML-DSA-44", tlv(0x30, tlv(0x04, seed) + tlv(0x04, expanded_key("ML-DSA-44", seed, public, tamper=True)))
    )
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
