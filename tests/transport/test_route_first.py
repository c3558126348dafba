"""A bad proxy or CA bundle is found while the session is planned, before any key is opened.

The key here is an encrypted PKCS#8 file given the wrong password: opening it fails with a
password error. When the proxy or the CA bundle is unusable, that error must come first and the
key must never be tried (for a token, trying it would be a PIN entry or a login attempt).
"""

from __future__ import annotations

import pytest

from tests.conftest import emulator_args, run_rasign

pytestmark = pytest.mark.network


@pytest.fixture
def locked_identity(pki):
    cert_path, key_path = pki.encrypted_identity("the right password", stem="route-first-locked")
    return ["--certificate", str(cert_path), "--private-key", str(key_path)]


def _run(identity, emulator, env, *extra):
    return run_rasign(
        "credential-process",
        *identity,
        *emulator_args(emulator),
        *extra,
        "--no-prompt",
        env={"RASIGN_PKCS8_PASSWORD": "a wrong password", **env},
    )


def test_the_wrong_password_alone_is_a_key_error(locked_identity, emulator):
    result = _run(locked_identity, emulator, {})
    assert result.returncode != 0 and result.stdout == ""
    assert "password" in result.stderr.lower()


@pytest.mark.parametrize("proxy", ["socks5://user:hunter2@127.0.0.1:1080", "http://proxy:99999"])
def test_an_unusable_proxy_is_reported_before_the_key_is_opened(locked_identity, emulator, proxy):
    before = emulator.create_session_count
    result = _run(locked_identity, emulator, {"HTTPS_PROXY": proxy, "NO_PROXY": ""})
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "proxy" in lines[0].lower() and "password" not in lines[0].lower()
    assert "hunter2" not in result.stderr
    assert emulator.create_session_count == before


def test_an_unusable_ca_bundle_is_reported_before_the_key_is_opened(locked_identity, emulator, tmp_path):
    bundle = tmp_path / "not-a-bundle.pem"
    bundle.write_text("no certificate in here\n")
    before = emulator.create_session_count
    result = _run(locked_identity, emulator, {}, "--ca-bundle", str(bundle))
    assert result.returncode == 3, result.stderr
    assert "CA bundle" in result.stderr and "password" not in result.stderr.lower()
    assert emulator.create_session_count == before


def test_a_bundle_that_only_looks_like_pem_fails_in_one_line_before_any_request(pki, emulator, tmp_path):
    cert, key = pki.software_identity(stem="route-first-plain")
    bundle = tmp_path / "corrupt.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    before = emulator.create_session_count
    result = run_rasign(
        "credential-process",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        *emulator_args(emulator),
        "--ca-bundle",
        str(bundle),
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"rasign: error: cannot use the CA bundle {bundle}: it holds no PEM certificate OpenSSL accepts"
        " (pass a PEM file of CA certificates to --ca-bundle / AWS_CA_BUNDLE)"
    ]
    assert emulator.create_session_count == before and result.stdout == ""
