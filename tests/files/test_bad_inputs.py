"""Every bad input gives one specific RasignError with a one-line message, never a traceback."""

from __future__ import annotations

import pytest

from rasign.errors import KeyLoadError, RasignError, UsageError
from tests.files.helpers import open_file_signer, openssl

pytestmark = pytest.mark.openssl


def _assert_one_line(error: RasignError, *fragments: str) -> None:
    text = error.one_line()
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text, text


def test_missing_key_file(base_keys, tmp_path):
    missing = tmp_path / "nope.pem"
    with pytest.raises(KeyLoadError) as caught:
        open_file_signer(certificate=str(base_keys["p256"].cert), private_key=str(missing))
    _assert_one_line(caught.value, "not found", str(missing))


def test_missing_certificate_file(base_keys, tmp_path):
    with pytest.raises(KeyLoadError, match="certificate file not found"):
        open_file_signer(certificate=str(tmp_path / "nope.pem"), private_key=str(base_keys["p256"].key))


def test_directory_instead_of_key(base_keys, tmp_path):
    with pytest.raises(KeyLoadError) as caught:
        open_file_signer(certificate=str(base_keys["p256"].cert), private_key=str(tmp_path))
    _assert_one_line(caught.value, "is a directory")


@pytest.mark.parametrize(
    "content",
    [
        b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN EC PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END EC PRIVATE KEY-----\n",
        b"-----BEGIN RSA PRIVATE KEY-----\n!!!! not base64 !!!!\n-----END RSA PRIVATE KEY-----\n",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END ENCRYPTED PRIVATE KEY-----\n",
        b"hello, I am not a key\n",
        b"-----BEGIN PRIVATE KEY-----\nMIIB\n",
        b"",
        bytes(range(256)),
    ],
)
def test_garbage_is_unable_to_parse(base_keys, tmp_path, content):
    key = tmp_path / "garbage.pem"
    key.write_bytes(content)
    with pytest.raises(KeyLoadError) as caught:
        open_file_signer(certificate=str(base_keys["p256"].cert), private_key=str(key), pkcs8_password="pw")
    _assert_one_line(caught.value, "unable to parse private key in", str(key))
    assert caught.value.hint()


@pytest.mark.parametrize("source", ["pkcs8", "sec1", "encrypted"])
def test_truncated_der(base_keys, tmp_path, source):
    base = base_keys["p384"]
    der = tmp_path / "full.der"
    if source == "pkcs8":
        openssl("pkcs8", "-topk8", "-nocrypt", "-in", base.key, "-outform", "DER", "-out", der)
    elif source == "sec1":
        openssl("ec", "-in", base.key, "-outform", "DER", "-out", der)
    else:
        openssl(
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            base.key,
            "-passout",
            "pass:pw",
            "-outform",
            "DER",
            "-out",
            der,
        )
    truncated = tmp_path / "truncated.der"
    truncated.write_bytes(der.read_bytes()[:-20])
    with pytest.raises(KeyLoadError) as caught:
        open_file_signer(certificate=str(base.cert), private_key=str(truncated), pkcs8_password="pw")
    _assert_one_line(caught.value, "unable to parse private key in", str(truncated))


def test_certificate_given_as_key(base_keys, tmp_path):
    der = tmp_path / "cert.der"
    openssl("x509", "-in", base_keys["p256"].cert, "-outform", "DER", "-out", der)
    with pytest.raises(KeyLoadError, match="is a certificate, not a private key"):
        open_file_signer(private_key=str(der))
    with pytest.raises(KeyLoadError, match=r"no private key PEM block \(found: CERTIFICATE\)"):
        open_file_signer(private_key=str(base_keys["p256"].cert))


def test_garbage_certificate(base_keys, tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    with pytest.raises(KeyLoadError, match="could not parse certificate"):
        open_file_signer(certificate=str(cert), private_key=str(base_keys["p256"].key))


@pytest.mark.parametrize(
    "key_name,cert_name", [("p256", "p384"), ("rsa2048", "p256"), ("p256", "rsa2048"), ("rsa2048", "rsa4096")]
)
def test_mismatched_key_and_certificate(base_keys, key_name, cert_name):
    key, cert = base_keys[key_name].key, base_keys[cert_name].cert
    with pytest.raises(KeyLoadError) as caught:
        open_file_signer(certificate=str(cert), private_key=str(key))
    _assert_one_line(caught.value, "does not match the certificate", str(key), str(cert))
    assert caught.value.hint()


@pytest.mark.parametrize("algorithm", ["ED25519", "ED448", "X25519"])
def test_unsupported_key_types(tmp_path, algorithm):
    key = tmp_path / f"{algorithm}.pem"
    openssl("genpkey", "-algorithm", algorithm, "-out", key)
    with pytest.raises(KeyLoadError) as caught:
        open_file_signer(private_key=str(key))
    _assert_one_line(caught.value, "unsupported private key type", str(key))


def test_unsupported_curve(tmp_path):
    key = tmp_path / "k1.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", key)
    with pytest.raises(KeyLoadError, match="unsupported EC curve secp256k1"):
        open_file_signer(private_key=str(key))


def test_dsa_key(tmp_path):
    params, key = tmp_path / "dsa.params", tmp_path / "dsa.pem"
    openssl("genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:1024", "-out", params)
    openssl("genpkey", "-paramfile", params, "-out", key)
    with pytest.raises(KeyLoadError, match="unsupported private key type"):
        open_file_signer(private_key=str(key))


def test_two_keys_in_one_file(base_keys, tmp_path):
    both = tmp_path / "two.pem"
    both.write_bytes(base_keys["p256"].key.read_bytes() + base_keys["p384"].key.read_bytes())
    with pytest.raises(KeyLoadError, match="holds 2 private keys"):
        open_file_signer(private_key=str(both))


def test_openssh_key_gets_a_conversion_hint(tmp_path):
    key = tmp_path / "id_ed.pem"
    key.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(KeyLoadError, match="OPENSSH PRIVATE KEY") as caught:
        open_file_signer(private_key=str(key))
    assert "ssh-keygen" in caught.value.hint()


def test_nothing_given_is_a_usage_error():
    with pytest.raises(UsageError):
        open_file_signer()


UNREADABLE_SCRIPT = """
import os, sys
import rasign.certs, rasign.backends.file_sources  # everything the read path needs, imported as root
from rasign.backends.file import FileBackend
from rasign.errors import RasignError
from rasign.options import SignerOptions
os.setgid(65534)
os.setuid(65534)  # nobody: root would read the file regardless of its mode
try:
    FileBackend.open(SignerOptions(private_key=sys.argv[1], interactive=False))
except RasignError as err:
    print(type(err).__name__, err.one_line())
"""


def test_unreadable_key_file(base_keys, tmp_path):
    import os
    import subprocess
    import sys

    key = tmp_path / "locked.pem"
    key.write_bytes(base_keys["p256"].key.read_bytes())
    key.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(KeyLoadError, match="permission denied"):
            open_file_signer(private_key=str(key))
        return
    result = subprocess.run(  # noqa: PLW1510 - the output is the assertion
        [sys.executable, "-c", UNREADABLE_SCRIPT, str(key)], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.startswith("KeyLoadError cannot read private key file"), (result.stdout, result.stderr)
    assert "permission denied" in result.stdout
