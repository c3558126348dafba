"""sign-string, read-certificate-data and version against the known-answer vectors (tests/vectors) and openssl."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_rasign
from tests.support.openssl import assert_openssl_verifies
from tests.test_vectors import VECTORS

SELF = json.loads((VECTORS / "self-computed.json").read_text())


@pytest.mark.parametrize("digest", ["SHA256", "SHA384", "SHA512"])
def test_sign_string_matches_vector(digest):
    cert, key = VECTORS / "self-computed-cert.pem", VECTORS / "self-computed-key.pem"
    result = run_rasign(
        "sign-string",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        "--pkcs8-password",
        "password",
        "--digest",
        digest,
        "--format",
        "text",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == SELF["sign_string"]["signature_hex"][digest]
    as_json = run_rasign(
        "sign-string",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        "--pkcs8-password",
        "password",
        "--digest",
        digest,
    )
    assert as_json.stdout == f'"{result.stdout}"'


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_sign_string_verifies_with_openssl(kind, pki, tmp_path):
    from rasign.commands.sign_string import test_message

    cert, key = pki.software_identity(kind, stem=f"ss-{kind}")
    result = run_rasign(
        "sign-string", "--certificate", str(cert), "--private-key", str(key), "--format", "bin", text=False
    )
    assert result.returncode == 0, result.stderr
    from cryptography import x509

    public = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    assert_openssl_verifies(public, result.stdout, test_message(public), tmp_path)


def test_read_certificate_data_file():
    result = run_rasign("read-certificate-data", "--certificate", str(VECTORS / "self-computed-cert.pem"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["keyType"] == "RSA"
    assert document["serialNumber"] == "5373003642731685151011"
    assert document["supportedAlgorithms"] == ["RSASHA256", "RSASHA384", "RSASHA512"]
    assert document["certificateData"].startswith("MIIDCjCC")
    assert not result.stdout.endswith("\n")


def test_read_certificate_data_needs_input():
    result = run_rasign("read-certificate-data")
    assert result.returncode == 2 and result.stderr.startswith("rasign: error: ")


def test_version_and_help():
    from rasign import __version__

    assert run_rasign("version").stdout == f"{__version__}\n"
    assert run_rasign().returncode == 0
    unknown = run_rasign("credential-process", "--bogus")
    assert unknown.returncode == 2 and "unknown flag: --bogus" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_read_certificate_data_pkcs12(pki, tmp_path):
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    from tests.support.pki import new_key

    key = new_key("ec")
    cert = pki.issue(key.public_key(), cn="p12 leaf")
    bundle = tmp_path / "id.p12"
    bundle.write_bytes(pkcs12.serialize_key_and_certificates(b"id", key, cert, None, BestAvailableEncryption(b"pw")))
    result = run_rasign("read-certificate-data", "--certificate", str(bundle), "--pkcs8-password", "pw")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["serialNumber"] == str(cert.serial_number)
