"""Keys and certificates from environment variables (``env:NAME``) and passwords from a file."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509

from rasign.errors import AuthenticationError, KeyLoadError
from tests.files.conftest import PASSWORD
from tests.files.helpers import assert_signs_for_certificate, open_file_signer, openssl

pytestmark = pytest.mark.openssl


def test_pem_key_and_certificate_from_environment(base_keys, monkeypatch):
    base = base_keys["p384"]
    monkeypatch.setenv("RASIGN_TEST_KEY", base.key.read_text())
    monkeypatch.setenv("RASIGN_TEST_CERT", base.cert.read_text())
    with open_file_signer(certificate="env:RASIGN_TEST_CERT", private_key="env:RASIGN_TEST_KEY") as signer:
        assert signer.certificate == x509.load_pem_x509_certificate(base.cert.read_bytes())
        assert_signs_for_certificate(signer, ("SHA256",))


def test_base64_der_and_pkcs12_from_environment(base_keys, tmp_path, monkeypatch):
    base = base_keys["rsa2048"]
    der_key = openssl("pkcs8", "-topk8", "-nocrypt", "-in", base.key, "-outform", "DER")
    der_cert = openssl("x509", "-in", base.cert, "-outform", "DER")
    monkeypatch.setenv("RASIGN_TEST_KEY", base64.encodebytes(der_key).decode())  # with line breaks
    monkeypatch.setenv("RASIGN_TEST_CERT", base64.b64encode(der_cert).decode())
    with open_file_signer(certificate="env:RASIGN_TEST_CERT", private_key="env:RASIGN_TEST_KEY") as signer:
        assert_signs_for_certificate(signer, ("SHA256",))
    p12 = tmp_path / "id.p12"
    openssl("pkcs12", "-export", "-inkey", base.key, "-in", base.cert, "-passout", f"pass:{PASSWORD}", "-out", p12)
    monkeypatch.setenv("RASIGN_TEST_P12", base64.b64encode(p12.read_bytes()).decode())
    with open_file_signer(certificate="env:RASIGN_TEST_P12", pkcs8_password=PASSWORD) as signer:
        assert_signs_for_certificate(signer, ("SHA256",))


def test_unset_or_garbage_environment_variable(base_keys, monkeypatch):
    monkeypatch.delenv("RASIGN_TEST_MISSING", raising=False)
    with pytest.raises(KeyLoadError, match="RASIGN_TEST_MISSING .* is not set or empty"):
        open_file_signer(certificate=str(base_keys["p256"].cert), private_key="env:RASIGN_TEST_MISSING")
    monkeypatch.setenv("RASIGN_TEST_GARBAGE", "this is not base64 !!")
    with pytest.raises(KeyLoadError, match="neither PEM text nor base64"):
        open_file_signer(private_key="env:RASIGN_TEST_GARBAGE")


def test_a_real_file_named_env_wins(base_keys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "env:KEY").write_bytes(base_keys["p256"].key.read_bytes())
    monkeypatch.delenv("KEY", raising=False)
    with open_file_signer(certificate=str(base_keys["p256"].cert), private_key="env:KEY") as signer:
        assert_signs_for_certificate(signer, ("SHA256",))


def test_list_identities_names_the_variable(base_keys, monkeypatch):
    from rasign.backends.file import FileBackend
    from rasign.options import SignerOptions

    monkeypatch.setenv("RASIGN_TEST_CERT", base_keys["p256"].cert.read_text())
    [identity] = FileBackend.list_identities(SignerOptions(certificate="env:RASIGN_TEST_CERT"))
    assert identity.where == "environment variable RASIGN_TEST_CERT"


def test_password_from_a_file(base_keys, tmp_path, monkeypatch):
    base = base_keys["p256"]
    key = base.derive("p256-pwfile.pem", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:from a file")
    password_file = tmp_path / "pw.txt"
    password_file.write_text("from a file\n")
    monkeypatch.delenv("RASIGN_PKCS8_PASSWORD", raising=False)
    monkeypatch.setenv("RASIGN_PKCS8_PASSWORD_FILE", str(password_file))
    with open_file_signer(certificate=str(base.cert), private_key=str(key)) as signer:
        assert_signs_for_certificate(signer, ("SHA256",))
    password_file.write_text("wrong\n")
    with pytest.raises(AuthenticationError, match="incorrect PKCS#8 private key password"):
        open_file_signer(certificate=str(base.cert), private_key=str(key))
    monkeypatch.setenv("RASIGN_PKCS8_PASSWORD_FILE", str(tmp_path / "missing.txt"))
    with pytest.raises(KeyLoadError, match="cannot read the PKCS#8 password file"):
        open_file_signer(certificate=str(base.cert), private_key=str(key))
