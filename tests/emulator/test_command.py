"""``rasign emulator``: the foreground command scripts and the README demo use."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import run_rasign
from tests.emulator.command import demo_flags, start, stop

pytestmark = pytest.mark.network


def test_demo_identity_flow_and_clean_shutdown(tmp_path):
    state = tmp_path / "state"
    process, info = start(
        "--demo-identity",
        "--state-dir",
        str(state),
        "--accept-role-session-name",
        "--profile-duration",
        "1800",
        "--debug",
    )
    try:
        assert info["endpoint"].startswith("https://127.0.0.1:")
        assert info["sts_endpoint"] == info["endpoint"] + "/sts/"
        assert json.loads((state / "emulator.json").read_text())["profile_arn"] == info["profile_arn"]
        result = run_rasign(
            "credential-process",
            *demo_flags(info),
            "--role-arn",
            info["role_arn"],
            "--role-session-name",
            "from-cli",
            env={"RASIGN_CACHE_DIR": str(tmp_path / "cache")},
        )
        assert result.returncode == 0, result.stderr
        credentials = json.loads(result.stdout)
    finally:
        code, out, err = stop(process)
    assert code == 0
    assert out == ""  # only the one announcement line goes to stdout
    assert "POST /sessions -> 201" in err
    for secret in (credentials["SecretAccessKey"], credentials["SessionToken"], credentials["AccessKeyId"]):
        assert secret not in err
    assert not (state / "emulator.json").exists()


def test_trust_anchor_file_and_fixed_port(tmp_path):
    from tests.emulator.factory import make_ca

    root = tmp_path / "root.pem"
    root.write_bytes(make_ca("command root").pem)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process, info = start(
        "--trust-anchor", str(root), "--port", str(port), "--region", "eu-west-2", "--rate-limit", "10"
    )
    try:
        assert info["endpoint"] == f"https://127.0.0.1:{port}"
        assert info["trust_anchor_arn"].startswith("arn:aws:rolesanywhere:eu-west-2:123456789012:trust-anchor/")
        second = run_rasign("emulator", "--trust-anchor", str(root), "--port", str(port))
        assert second.returncode == 3
        assert "cannot listen on 127.0.0.1" in second.stderr
    finally:
        assert stop(process)[0] == 0


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        ((), 2, "--trust-anchor"),
        (("--demo-identity", "--profile-duration", "10"), 2, "--profile-duration"),
        (("--demo-identity", "--account-id", "42"), 2, "--account-id"),
        (("--demo-identity", "--rate-limit", "0"), 2, "--rate-limit"),
        (("--trust-anchor", "/nonexistent/ca.pem"), 4, "trust anchor file not found"),
    ],
)
def test_usage_errors_are_one_line(args, code, words):
    result = run_rasign("emulator", *args)
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rasign: error:") and words in lines[0]
    assert result.stdout == ""


def test_leaf_certificate_as_trust_anchor_is_refused(tmp_path):
    from tests.emulator.factory import make_ca, make_leaf, new_key

    leaf = make_leaf(make_ca("r"), new_key())
    path = tmp_path / "leaf.pem"
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    result = run_rasign("emulator", "--trust-anchor", str(path))
    assert result.returncode == 3
    assert "cannot be used: not a CA" in result.stderr


def test_state_dir_links_are_replaced_never_written_through(tmp_path):
    """A link planted in --state-dir (as in a shared /tmp path) must not make the emulator overwrite its target."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for name in ("emulator-server.key", "client-key.pem", "emulator.json", "root-ca.pem"):
        (state / name).symlink_to(victim)
    process, info = start("--demo-identity", "--port", "0", "--state-dir", str(state))
    try:
        for name in ("emulator-server.key", "client-key.pem", "emulator.json", "root-ca.pem"):
            assert not (state / name).is_symlink() and (state / name).stat().st_size > 0
        assert (state / "emulator-server.key").stat().st_mode & 0o077 == 0
        assert info["state_file"] == str(state / "emulator.json")
    finally:
        code, _, err = stop(process)
    assert code == 0, err
    assert victim.read_text() == "precious\n"


def test_state_dir_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    done = run_rasign("emulator", "--demo-identity", "--port", "0", "--state-dir", str(shared))
    assert done.returncode == 3 and done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert "can be changed by another user" in done.stderr and list(shared.iterdir()) == []
