"""Certificates on a SoftHSM2 token as a certificate store, end to end.

The token is made at test time with the real tools users have: ``softhsm2-util`` to
create the token and import the private keys, OpenSC's ``pkcs11-tool`` to write the
certificates. rasign then reaches the token only through the PKCS#11 backend.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import emulator_args, run_rasign
from tests.support.pki import NOW, key_pem, new_key

MODULE = next(
    (
        p
        for p in (
            "/usr/lib/softhsm/libsofthsm2.so",
            "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
            "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        )
        if os.path.exists(p)
    ),
    None,
)
PIN = "1234"

pytestmark = [
    pytest.mark.softhsm,
    pytest.mark.skipif(
        MODULE is None or not shutil.which("softhsm2-util") or not shutil.which("pkcs11-tool"),
        reason="needs SoftHSM2 and OpenSC pkcs11-tool",
    ),
]


@pytest.fixture(scope="module")
def token(tmp_path_factory, pki) -> dict[str, object]:
    """Token ``stores``: a web identity renewed once (two keys, same subject) and a db identity."""
    pytest.importorskip("pkcs11")
    root = tmp_path_factory.mktemp("softhsm-stores")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
    )
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "stores", "--so-pin", "12345678", "--pin", PIN],
        env=env,
        check=True,
        capture_output=True,
    )
    layout = [
        ("01", "web-old", "web.example", NOW - dt.timedelta(days=300), NOW + dt.timedelta(days=30), 0x301, "ec"),
        ("02", "web-new", "web.example", NOW - dt.timedelta(days=2), NOW + dt.timedelta(days=360), 0x302, "ec"),
        ("03", "db", "db.example", NOW - dt.timedelta(days=2), NOW + dt.timedelta(days=90), 0x303, "rsa"),
    ]
    serials = {}
    for key_id, label, cn, start, end, serial, kind in layout:
        key = new_key(kind)
        key_file = root / f"{label}.key"
        key_file.write_bytes(key_pem(key))
        subprocess.run(
            [
                "softhsm2-util",
                "--import",
                str(key_file),
                "--token",
                "stores",
                "--label",
                label,
                "--id",
                key_id,
                "--pin",
                PIN,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        key_file.unlink()
        cert = pki.issue(key.public_key(), cn=cn, not_before=start, not_after=end, serial=serial)
        der_file = root / f"{label}.der"
        der_file.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        subprocess.run(
            [
                "pkcs11-tool",
                "--module",
                MODULE,
                "--token-label",
                "stores",
                "--login",
                "--pin",
                PIN,
                "--write-object",
                str(der_file),
                "--type",
                "cert",
                "--id",
                key_id,
                "--label",
                label,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        serials[label] = serial
    return {"env": {"SOFTHSM2_CONF": str(conf), "RASIGN_PKCS11_PIN": PIN}, "serials": serials}


@pytest.mark.network
def test_pkcs11_lib_search_with_latest_expiring(emulator, token) -> None:
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--cert-selector",
        "Key=x509Subject,Value=CN=web.example,O=rasign tests",
        "--pkcs11-lib",
        MODULE,
        "--use-latest-expiring-certificate",
        *emulator_args(emulator),
        env=token["env"],
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Version"] == 1
    assert emulator.issued[-1].certificate_serial == token["serials"]["web-new"]


@pytest.mark.network
def test_pkcs11_uri_as_cert_store_with_pin_in_uri(emulator, token) -> None:
    env = {"SOFTHSM2_CONF": token["env"]["SOFTHSM2_CONF"]}
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--cert-selector",
        "Key=x509Serial,Value=03:03",
        "--cert-store",
        f"pkcs11:token=stores?pin-value={PIN}",
        "--pkcs11-lib",
        MODULE,
        *emulator_args(emulator),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert emulator.issued[-1].certificate_serial == token["serials"]["db"]
    assert PIN not in result.stderr


def test_pkcs11_ambiguity_lists_selectors_and_read_certificate_data(token) -> None:
    result = run_rasign(
        "credential-process",
        "--cert-selector",
        "Key=x509SubjectContains,Value=web",
        "--pkcs11-lib",
        MODULE,
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
        "--profile-arn",
        "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p",
        "--trust-anchor-arn",
        "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/t",
        env=token["env"],
    )
    assert result.returncode == 4
    assert "multiple matching identities" in result.stderr and "Key=x509Serial,Value=301" in result.stderr
    listing = run_rasign(
        "read-certificate-data", "--json", "--cert-selector", "", "--pkcs11-lib", MODULE, env=token["env"]
    )
    assert listing.returncode == 0, listing.stderr
    records = json.loads(listing.stdout)
    assert sorted(r["serialNumber"] for r in records) == ["301", "302", "303"]
    for record in records:
        assert record["uri"].startswith("pkcs11:") and "token=stores" in record["uri"]
        assert "stores" in record["location"]
        assert record["selector"]
