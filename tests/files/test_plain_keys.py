"""Plain (unencrypted) keys in every encoding openssl writes, with openssl-issued certificates."""

from __future__ import annotations

import pytest

from rasign.signer import KeyKind
from tests.files.conftest import ENCODINGS, KEY_SPECS, encoding_of
from tests.files.helpers import (
    MESSAGE,
    assert_signs_for_certificate,
    open_file_signer,
    openssl,
    openssl_verify,
)

pytestmark = pytest.mark.openssl

EXPECTED_LABEL = {
    ("rsa", "traditional-pem"): b"-----BEGIN RSA PRIVATE KEY-----",
    ("ec", "traditional-pem"): b"-----BEGIN EC PRIVATE KEY-----",
    ("rsa", "pkcs8-pem"): b"-----BEGIN PRIVATE KEY-----",
    ("ec", "pkcs8-pem"): b"-----BEGIN PRIVATE KEY-----",
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("name", sorted(KEY_SPECS))
def test_every_plain_encoding_signs_for_its_certificate(base_keys, name, encoding):
    base = base_keys[name]
    key_path = encoding_of(base, encoding)
    label = EXPECTED_LABEL.get(("rsa" if base.is_rsa else "ec", encoding))
    if label is not None:
        # Guard the fixture itself: the file really is the encoding the test claims.
        assert key_path.read_bytes().startswith(label)
    else:
        assert not key_path.read_bytes().startswith(b"-----")
    with open_file_signer(certificate=str(base.cert), private_key=str(key_path)) as signer:
        assert signer.key_kind is (KeyKind.RSA if base.is_rsa else KeyKind.EC)
        assert signer.algorithm == ("AWS4-X509-RSA-SHA256" if base.is_rsa else "AWS4-X509-ECDSA-SHA256")
        assert signer.backend_name == "file"
        assert_signs_for_certificate(signer)


@pytest.mark.parametrize("name", sorted(KEY_SPECS))
@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
def test_openssl_dgst_verifies_rasign_signatures(base_keys, name, digest, tmp_path):
    base = base_keys[name]
    with open_file_signer(certificate=str(base.cert), private_key=str(base.key)) as signer:
        signature = signer.sign(MESSAGE, digest.upper())
    openssl_verify(base.cert, signature, MESSAGE, tmp_path, digest)


def test_rsa_signature_is_deterministic_pkcs1v15_like_openssl(base_keys, tmp_path):
    """PKCS#1 v1.5 is deterministic, so rasign's bytes must equal ``openssl dgst -sign``'s."""
    base = base_keys["rsa2048"]
    (tmp_path / "msg").write_bytes(MESSAGE)
    expected = openssl("dgst", "-sha256", "-sign", base.key, tmp_path / "msg")
    with open_file_signer(certificate=str(base.cert), private_key=str(base.key)) as signer:
        assert signer.sign(MESSAGE, "SHA256") == expected


def test_der_certificate_is_accepted(base_keys, tmp_path):
    base = base_keys["p384"]
    der_cert = tmp_path / "cert.der"
    openssl("x509", "-in", base.cert, "-outform", "DER", "-out", der_cert)
    with open_file_signer(certificate=str(der_cert), private_key=str(base.key)) as signer:
        assert signer.certificate is not None
        assert_signs_for_certificate(signer, ("SHA256",))


def test_key_without_certificate_still_signs(base_keys):
    """sign-string needs no certificate; the lead's credential-process refuses it itself."""
    base = base_keys["p256"]
    with open_file_signer(private_key=str(base.key)) as signer:
        assert signer.certificate is None
        assert signer.chain == []
        signature = signer.sign(MESSAGE)
    from cryptography import x509

    from rasign.signer import verify_signature

    public = x509.load_pem_x509_certificate(base.cert.read_bytes()).public_key()
    assert verify_signature(public, signature, MESSAGE)


def test_closed_signer_refuses_to_sign(base_keys):
    from rasign.errors import SigningError

    signer = open_file_signer(certificate=str(base_keys["p256"].cert), private_key=str(base_keys["p256"].key))
    signer.close()
    signer.close()
    with pytest.raises(SigningError):
        signer.sign(MESSAGE)


def test_unknown_digest_is_a_signing_error(base_keys):
    from rasign.errors import SigningError

    with (
        open_file_signer(private_key=str(base_keys["rsa2048"].key)) as signer,
        pytest.raises(SigningError, match="unsupported hash algorithm"),
    ):
        signer.sign(MESSAGE, "MD5")


def test_files_are_reread_on_every_open(base_keys, openssl_ca, tmp_path):
    """Rotation: serve/update call open() per refresh and must see the new files."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    key.write_bytes(base_keys["p256"].key.read_bytes())
    cert.write_bytes(base_keys["p256"].cert.read_bytes())
    first = open_file_signer(certificate=str(cert), private_key=str(key))
    key.write_bytes(base_keys["p384"].key.read_bytes())
    cert.write_bytes(base_keys["p384"].cert.read_bytes())
    second = open_file_signer(certificate=str(cert), private_key=str(key))
    assert first.certificate != second.certificate
    assert second.public_key().curve.name == "secp384r1"
    assert_signs_for_certificate(second, ("SHA256",))
