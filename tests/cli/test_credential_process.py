"""credential-process end to end: real files, the real CLI process, the verifying emulator.

Also covers the bad inputs listed in issue 2: each gives one line on stderr, the class's
exit code, and none reaches the network when it can be caught locally.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from tests.conftest import emulator_args, run_rasign
from tests.support.pki import NOW, key_pem, make_ca, new_key

pytestmark = pytest.mark.network


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rasign: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("kind", ["ec", "p384", "rsa"])
def test_credentials_from_file_key(kind, pki, emulator, tmp_path):
    cert, key = pki.software_identity(kind, stem=f"cp-{kind}")
    result = run_rasign(
        "credential-process", "--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator)
    )
    assert result.returncode == 0, result.stderr
    assert not result.stdout.endswith("\n")
    document = json.loads(result.stdout)
    assert list(document) == ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"]
    assert document["Version"] == 1
    assert document["AccessKeyId"].startswith("ASIA")
    expires = dt.datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00"))
    assert dt.timedelta(minutes=55) < expires - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(hours=1, minutes=1)
    # Nothing about the secret reaches stderr.
    assert document["SecretAccessKey"] not in result.stderr and document["SessionToken"] not in result.stderr


def test_full_chain_and_intermediates(pki, emulator, tmp_path):
    intermediate = pki.intermediate("rasign cp intermediate")
    key = new_key("ec")
    key_path = tmp_path / "k.pem"
    key_path.write_bytes(key_pem(key))
    full_chain = tmp_path / "fullchain.pem"
    pki.issue(key.public_key(), full_chain, issuer=intermediate, chain=[intermediate])
    ok = run_rasign(
        "credential-process", "--certificate", str(full_chain), "--private-key", str(key_path), *emulator_args(emulator)
    )
    assert ok.returncode == 0, ok.stderr

    leaf_only = tmp_path / "leaf.pem"
    pki.issue(key.public_key(), leaf_only, issuer=intermediate)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(intermediate.pem)
    ok = run_rasign(
        "credential-process",
        "--certificate",
        str(leaf_only),
        "--private-key",
        str(key_path),
        "--intermediates",
        str(bundle),
        *emulator_args(emulator),
    )
    assert ok.returncode == 0, ok.stderr

    # Without the intermediate the emulator cannot build a path: an actionable 403.
    denied = run_rasign(
        "credential-process", "--certificate", str(leaf_only), "--private-key", str(key_path), *emulator_args(emulator)
    )
    assert_one_line_error(denied, 11, "Untrusted Signing Certificate", "--intermediates")


def test_instance_properties_and_session_name(pki, emulator):
    cert, key = pki.software_identity("ec", stem="cp-props")
    result = run_rasign(
        "credential-process",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        *emulator_args(emulator),
        "--instance-property",
        "host=build-7",
        "--instance-property",
        "os=linux",
    )
    assert result.returncode == 0, result.stderr
    denied = run_rasign(
        "credential-process",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        *emulator_args(emulator),
        "--role-session-name",
        "my-session",
    )
    assert_one_line_error(denied, 11, "acceptRoleSessionName")


def test_debug_shows_signing_stages_but_no_secrets(pki, emulator):
    cert, key = pki.software_identity("ec", stem="cp-debug")
    result = run_rasign(
        "credential-process", "--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator), "--debug"
    )
    assert result.returncode == 0, result.stderr
    creds = json.loads(result.stdout)
    assert "canonical request:" in result.stderr and "string to sign:" in result.stderr
    assert "AWS4-X509-ECDSA-SHA256" in result.stderr
    for secret in (creds["SecretAccessKey"], creds["SessionToken"]):
        assert secret not in result.stderr
    assert "PRIVATE KEY" not in result.stderr


def test_bad_inputs_fail_locally(pki, emulator, tmp_path, rasign_in_process):
    """Exit codes and messages only: in-process (the first case also runs as its own process)."""
    cert, key = pki.software_identity("ec", stem="cp-bad")
    other_cert, other_key = pki.software_identity("ec", stem="cp-other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n")
    expired = tmp_path / "expired.pem"
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    pub = load_pem_private_key(key.read_bytes(), None).public_key()
    pki.issue(pub, expired, not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1))
    rogue = make_ca("rogue CA")
    rogue_cert = tmp_path / "rogue.pem"
    pki.issue(pub, rogue_cert, issuer=rogue)
    args = emulator_args(emulator)
    before = emulator.create_session_count
    cases = [
        (["--certificate", str(tmp_path / "missing.pem"), "--private-key", str(key)], 4, "not found"),
        (["--certificate", str(garbage), "--private-key", str(key)], 4, "certificate"),
        (["--certificate", str(cert), "--private-key", str(garbage)], 4, ""),
        (["--certificate", str(cert), "--private-key", str(other_key)], 4, "does not match"),
        (["--certificate", str(expired), "--private-key", str(key)], 5, "expired"),
    ]
    flags, code, needle = cases[0]
    own = run_rasign("credential-process", *flags, *args)
    assert_one_line_error(own, code, needle)
    assert rasign_in_process("credential-process", *flags, *args).stderr == own.stderr
    for flags, code, needle in cases:
        result = rasign_in_process("credential-process", *flags, *args)
        assert_one_line_error(result, code, needle)
    bad_session = [
        (["--trust-anchor-arn", "not-an-arn"], "invalid prefix"),
        (["--profile-arn", emulator.profile_arn.replace("us-east-1", "eu-west-1")], "regions don't match"),
        (["--session-duration", "10"], "900-43200"),
    ]
    for extra, needle in bad_session:
        result = rasign_in_process(
            "credential-process", "--certificate", str(cert), "--private-key", str(key), *args, *extra
        )
        assert_one_line_error(result, 3, needle)
    assert emulator.create_session_count == before, "a locally detectable error reached the network"

    # A certificate from a CA the trust anchor does not know: only the server can tell.
    result = rasign_in_process("credential-process", "--certificate", str(rogue_cert), "--private-key", str(key), *args)
    assert_one_line_error(result, 11, "Untrusted Signing Certificate")


def test_wrong_password_and_no_terminal(pki, emulator):
    cert, encrypted = pki.encrypted_identity("right", stem="cp-wrong-password")
    args = ["credential-process", "--certificate", str(cert), "--private-key", str(encrypted), *emulator_args(emulator)]
    assert run_rasign(*args, "--pkcs8-password", "right").returncode == 0
    assert_one_line_error(run_rasign(*args, "--pkcs8-password", "wrong"), 6, "password")
    assert_one_line_error(run_rasign(*args), 6)


def test_unreachable_endpoint_is_a_network_error(pki, emulator):
    cert, key = pki.software_identity("ec", stem="cp-net")
    args = [a if a != emulator.endpoint else "https://127.0.0.1:9" for a in emulator_args(emulator)]
    result = run_rasign(
        "credential-process", "--certificate", str(cert), "--private-key", str(key), *args, "--max-attempts", "2"
    )
    assert_one_line_error(result, 9, "request send failed")


def test_untrusted_tls_is_explained(pki, emulator):
    cert, key = pki.software_identity("ec", stem="cp-tls")
    args = [a for a in emulator_args(emulator)]
    index = args.index("--ca-bundle")
    del args[index : index + 2]
    result = run_rasign("credential-process", "--certificate", str(cert), "--private-key", str(key), *args)
    assert_one_line_error(result, 9, "TLS", "--ca-bundle")
