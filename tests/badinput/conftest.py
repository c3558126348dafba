"""The fixture world of the bad-input matrix: good and bad files made once per session.

Good identities come from the shared test PKI (trusted by the shared emulator); encrypted
keys and PKCS#12 files are made by the openssl CLI, as users make them. Bad files cover what
users actually point rasign at: empty, binary, non-UTF-8, truncated, a directory, a FIFO,
the wrong kind of PEM, a certificate that does not fit the key.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess

import pytest

from tests.badinput.harness import World
from tests.support.pki import cert_pem, key_pem, make_ca, new_key

KEY_PASSWORD = "k3y-Pa55word-for-badinput"
P12_PASSWORD = "p12-Pa55word-for-badinput"
TA = "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/ta"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def world(tmp_path_factory, pki, emulator) -> World:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    root = tmp_path_factory.mktemp("badinput")
    files = root / "files"
    files.mkdir()
    cert, key = pki.software_identity(stem="badinput")
    shutil.copy(cert, files / "cert.pem")
    shutil.copy(key, files / "key.pem")
    cert, key = files / "cert.pem", files / "key.pem"

    other_cert, other_key = pki.software_identity(stem="badinput-other")
    now = dt.datetime.now(dt.timezone.utc)
    expired_key = new_key("ec")
    pki.issue(
        expired_key.public_key(),
        files / "expired.pem",
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    pki.issue(
        expired_key.public_key(),
        files / "future.pem",
        not_before=now + dt.timedelta(days=30),
        not_after=now + dt.timedelta(days=60),
    )
    pki.issue(expired_key.public_key(), files / "nosign.pem", digital_signature=False)
    (files / "expired-key.pem").write_bytes(key_pem(expired_key))
    ca = make_ca("badinput CA as client", pki.root)
    (files / "ca-cert.pem").write_bytes(cert_pem(ca.cert))
    (files / "ca-key.pem").write_bytes(key_pem(ca.key))

    _openssl(
        "pkcs8",
        "-topk8",
        "-in",
        str(key),
        "-out",
        str(files / "key-enc.pem"),
        "-v2",
        "aes-256-cbc",
        "-passout",
        f"pass:{KEY_PASSWORD}",
    )
    _openssl(
        "pkcs12",
        "-export",
        "-in",
        str(cert),
        "-inkey",
        str(key),
        "-out",
        str(files / "id.p12"),
        "-passout",
        f"pass:{P12_PASSWORD}",
    )
    _openssl("x509", "-in", str(cert), "-outform", "DER", "-out", str(files / "cert.der"))

    pem_body = key.read_text().splitlines()[1]
    bad = {
        "empty": b"",
        "garbage": b"hello, I am not a certificate\n",
        "binary": bytes(range(256)) * 4,
        "nonutf8": b"\xff\xfe\xfa not utf-8 \x80\x81\n",
        "truncated_cert": cert.read_bytes()[: len(cert.read_bytes()) // 2],
        "truncated_key": key.read_bytes()[:60],
        "bad_base64_cert": b"-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n",
        "csr": b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
        "escape": b"\x1b]0;owned\x07\x1b[2J not a key\n",
        "nul": b"\x00" * 64,
        "tss2_garbage": b"-----BEGIN TSS2 PRIVATE KEY-----\nMAMCAQA=\n-----END TSS2 PRIVATE KEY-----\n",
        "selector_nested": b'[[{"Key": "x509Subject", "Value": "CN=a"}]]',
        "selector_notjson": b"{not json",
        "selector_number": b"42",
        "selector_badkey": b'[{"Key": "x509Nope", "Value": "a"}]',
        "selector_nonutf8": b'[{"Key": "x509Subject", "Value": "\xff"}]',
        "selector_empty": b"[]",
        "selector_valnum": b'[{"Key": "x509Subject", "Value": 7}]',
        # 1.3 MB of BEGIN lines without END: a regular-expression PEM scan was quadratic here.
        "unterminated_pem": b"-----BEGIN CERTIFICATE-----\nAAAA\n" * 40000,
        "unterminated_key_pem": b"-----BEGIN PRIVATE KEY-----\nAAAA\n" * 40000,
        "unterminated_tss2": b"-----BEGIN TSS2 PRIVATE KEY-----\nAAAA\n" * 40000,
    }
    for name, content in bad.items():
        (files / name).write_bytes(content)
    (files / "cert_as_key.pem").write_bytes(cert.read_bytes())
    (files / "key_as_cert.pem").write_bytes(key.read_bytes())
    (files / "a_directory").mkdir()
    os.mkfifo(files / "fifo")
    (files / "pin_nonutf8").write_bytes(b"\xff\xfe\n")
    (files / "unreadable").write_bytes(b"secret")
    os.chmod(files / "unreadable", 0)

    creds_dir = root / "aws"
    creds_dir.mkdir()
    (creds_dir / "credentials").write_text("[default]\naws_access_key_id = AKIAEXISTING\n")
    (creds_dir / "config").write_text("[default]\nregion = us-east-1\n")

    paths = {name: str(files / name) for name in bad}
    paths.update(
        {
            "cert": str(cert),
            "key": str(key),
            "key_enc": str(files / "key-enc.pem"),
            "p12": str(files / "id.p12"),
            "cert_der": str(files / "cert.der"),
            "other_cert": str(other_cert),
            "other_key": str(other_key),
            "expired": str(files / "expired.pem"),
            "future": str(files / "future.pem"),
            "nosign": str(files / "nosign.pem"),
            "expired_key": str(files / "expired-key.pem"),
            "ca_cert": str(files / "ca-cert.pem"),
            "ca_key": str(files / "ca-key.pem"),
            "cert_as_key": str(files / "cert_as_key.pem"),
            "key_as_cert": str(files / "key_as_cert.pem"),
            "dir": str(files / "a_directory"),
            "fifo": str(files / "fifo"),
            "missing": str(files / "no-such-file"),
            "missing_dir": str(files / "no-such-dir" / "file"),
            "pin_nonutf8": str(files / "pin_nonutf8"),
            "unreadable": str(files / "unreadable"),
            "root_ca": str(pki.root_path),
            "credentials": str(creds_dir / "credentials"),
            "aws_dir": str(creds_dir),
            "cache_dir": str(root / "cache"),
            "ep": emulator.endpoint,
            "ca": str(emulator.ca_bundle),
            "ta": emulator.trust_anchor_arn,
            "pr": emulator.profile_arn,
            "ro": emulator.role_arn,
        }
    )
    secrets = [KEY_PASSWORD, P12_PASSWORD, pem_body]
    return World(root=root, paths=paths, secrets=secrets, emulator=emulator, watched=[files, creds_dir])


@pytest.fixture
def unreadable_works() -> bool:
    """Root reads a mode-000 file anyway: the 'permission denied' cases need a normal user."""
    return os.geteuid() != 0


# SoftHSM tokens and swtpm keys shared with the PKCS#11 and TPM areas (made once per session).
from tests.pkcs11.conftest import hsm  # noqa: E402,F401
from tests.tpm.conftest import (  # noqa: E402,F401
    _no_leaked_handles,
    openssl_ec_password,
    openssl_tpm2,
    tpm,
    tpm_dir,
)
