"""``rasign emulator`` output a script can rely on: absolute paths, log levels, state-dir errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO, run_rasign
from tests.emulator.command import demo_flags, start, stop

pytestmark = pytest.mark.network


def test_relative_state_dir_gives_absolute_paths_and_info_logs(tmp_path):
    env = {"PYTHONPATH": str(REPO), "RASIGN_CACHE_DIR": str(tmp_path / "cache")}
    process, info = start("--demo-identity", "--state-dir", "state", env=env, cwd=tmp_path)
    try:
        paths = [info["ca_bundle"], info["state_file"], *info["demo_identity"].values()]
        for path in paths:
            assert os.path.isabs(path) and Path(path).is_file(), path
        assert Path(info["ca_bundle"]).parent == tmp_path / "state"
        assert json.loads(Path(info["state_file"]).read_text()) == info
        common = ["credential-process", *demo_flags(info), "--no-cache"]
        assert run_rasign(*common, "--role-arn", info["role_arn"]).returncode == 0
        refused = run_rasign(*common, "--role-arn", info["role_arn"] + "-not-in-profile")
        assert refused.returncode == 11, refused.stderr
    finally:
        code, out, err = stop(process)
    assert code == 0 and out == ""
    lines = err.splitlines()
    assert any(" INFO " in line and "POST /sessions -> 201" in line for line in lines), err
    assert any(" WARNING " in line and "CreateSession refused" in line for line in lines), err
    assert not any(" DEBUG " in line for line in lines), err


def test_demo_identity_without_state_dir_is_removed_on_exit(tmp_path):
    process, info = start("--demo-identity", cwd=tmp_path)
    try:
        key = Path(info["demo_identity"]["private_key"])
        assert key.is_absolute() and key.is_file()
    finally:
        code, _, _ = stop(process)
    assert code == 0
    assert not key.exists(), "the demo identity's private key outlived the emulator"


@pytest.mark.parametrize(("below", "words"), [("", "is not a directory"), ("sub", "cannot create --state-dir")])
def test_state_dir_that_cannot_be_a_directory_is_one_line(tmp_path, below, words):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    result = run_rasign("emulator", "--demo-identity", "--state-dir", str(blocker / below) if below else str(blocker))
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rasign: error:") and words in lines[0], lines
    assert result.stdout == ""


TA = "arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/TA"
PROFILE = "arn:aws:rolesanywhere:eu-west-1:111122223333:profile/P"


def test_pinned_arns_are_answered_and_set_region_and_account(tmp_path):
    process, info = start(
        "--demo-identity", "--trust-anchor-arn", TA, "--profile-arn", PROFILE, "--role-name", "R", cwd=tmp_path
    )
    try:
        assert (info["trust_anchor_arn"], info["profile_arn"]) == (TA, PROFILE)
        assert (info["region"], info["account_id"], info["role_arn"]) == (
            "eu-west-1",
            "111122223333",
            "arn:aws:iam::111122223333:role/R",
        )
        flags = demo_flags(info, trust_anchor_arn=TA, profile_arn=PROFILE)
        result = run_rasign("credential-process", *flags, "--no-cache", "--role-arn", info["role_arn"])
        assert result.returncode == 0, result.stderr
    finally:
        stop(process)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--trust-anchor-arn", TA, "--region", "us-east-1"), "is in region eu-west-1, but --region is us-east-1"),
        (("--profile-arn", PROFILE, "--account-id", "444455556666"), "is in account 111122223333"),
        (("--profile-arn", "arn:aws:iam::111122223333:role/R"), "is not a Roles Anywhere profile ARN"),
        (("--trust-anchor-arn", "trust-anchor/TA"), "failed to parse trust anchor arn"),
    ],
)
def test_pinned_arns_that_disagree_are_usage_errors(args, words):
    result = run_rasign("emulator", "--demo-identity", *args)
    assert result.returncode in (2, 3), result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines


def test_demo_identity_is_removed_when_start_up_fails(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_rasign("emulator", "--demo-identity", "--port", str(port), env={"TMPDIR": str(tmp_path)})
    assert result.returncode == 3 and "cannot listen on 127.0.0.1" in result.stderr, result.stderr
    assert not list(tmp_path.glob("rasign-emulator-demo-*")), "the demo identity's key was left behind"
