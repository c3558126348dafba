"""``rasign update`` end to end: real CreateSession, real file, boto3 reading it."""

from __future__ import annotations

import configparser
import json
import os
import stat
import subprocess
import sys

import pytest

from tests.conftest import clean_env, emulator_args, run_rasign
from tests.delivery.helpers import aws_env, identity_args
from tests.delivery.inprocess import emulator_clock
from tests.support.sdk import boto3_caller

pytestmark = pytest.mark.network


def _read(path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read(path)
    return parser


def test_once_writes_a_profile_boto3_can_use(emulator, identity, tmp_path):
    cert, key = identity
    path = tmp_path / "home" / ".aws" / "credentials"
    result = run_rasign(
        "update",
        "--once",
        "--profile",
        "ra",
        *identity_args(cert, key),
        *emulator_args(emulator),
        env={"AWS_SHARED_CREDENTIALS_FILE": str(path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    section = _read(path)["ra"]
    assert section["aws_access_key_id"].startswith("ASIA")
    assert section["x_security_token_expires"].endswith("Z")

    env = aws_env(tmp_path, AWS_SHARED_CREDENTIALS_FILE=str(path))
    output = boto3_caller(env, emulator, profile="ra")
    assert output["method"] == "shared-credentials-file"
    assert emulator.role_arn.rsplit("/", 1)[-1] in output["arn"]


def test_once_preserves_everything_else(emulator, identity, tmp_path):
    cert, key = identity
    path = tmp_path / "credentials"
    original = (
        "# managed by hand\r\n[default]\r\naws_access_key_id = AKIAKEEP\r\n\r\n"
        "[ra]\r\n# note\r\nregion = eu-west-1\r\n\r\n[after]\r\nx = 1"
    )
    path.write_bytes(original.encode())
    os.chmod(path, 0o600)
    result = run_rasign(
        "update",
        "--once",
        "--profile",
        "ra",
        "--credentials-file",
        str(path),
        *identity_args(cert, key),
        *emulator_args(emulator),
    )
    assert result.returncode == 0, result.stderr
    text = path.read_bytes().decode()
    assert text.startswith(
        "# managed by hand\r\n[default]\r\naws_access_key_id = AKIAKEEP\r\n\r\n"
        "[ra]\r\n# note\r\nregion = eu-west-1\r\naws_access_key_id = ASIA"
    )
    assert text.endswith("\r\n\r\n[after]\r\nx = 1")
    assert "\n" not in text.replace("\r\n", "")


def test_once_reports_a_failed_create_session_cleanly(make_emulator, identity, tmp_path):
    emu = make_emulator()
    emu.go_down()
    cert, key = identity
    path = tmp_path / "credentials"
    path.write_text("[keep]\na = 1\n")
    result = run_rasign(
        "update",
        "--once",
        "--credentials-file",
        str(path),
        "--max-attempts",
        "1",
        *identity_args(cert, key),
        *emulator_args(emu),
    )
    assert result.returncode == 9
    assert result.stderr.startswith("rasign: error: request send failed") and "Traceback" not in result.stderr
    assert path.read_text() == "[keep]\na = 1\n"


def test_loop_survives_an_outage_and_recovers(make_emulator, identity, tmp_path, in_process):
    """Credentials live 20 s, refreshed 15 s ahead; update runs in-process on a fake clock the emulator shares."""
    clock = emulator_clock()
    emu = make_emulator(profile_duration=20, clock=clock.now)
    cert, key = identity
    path = tmp_path / "credentials"
    running = in_process(
        "update",
        [
            "--credentials-file",
            str(path),
            "--refresh-ahead",
            "15",
            "--min-refresh-interval",
            "0.5",
            "--max-backoff",
            "1",
            "--max-attempts",
            "1",
            "--connect-timeout",
            "2",
            *identity_args(cert, key),
            *emulator_args(emu),
        ],
        clock,
    )
    try:
        running.advance_until(lambda: path.exists() and "default" in _read(path), 30, message="first write")
        first = _read(path)["default"]["aws_access_key_id"]
        emu.go_down()
        running.advance_until(lambda: running.log().count("refresh failed") >= 2, 20, message="failed refreshes")
        assert clock.monotonic() >= 5  # the first attempt waited until the refresh was due
        assert running.alive()
        assert _read(path)["default"]["aws_access_key_id"] == first  # file untouched by failures
        emu.come_back()
        running.advance_until(
            lambda: _read(path)["default"]["aws_access_key_id"] != first, 20, message="rewrite after recovery"
        )
    finally:
        emu.come_back()
        assert running.stop() == 0
    assert "Traceback" not in running.log()


def test_loop_started_while_endpoint_is_down_keeps_retrying(make_emulator, identity, tmp_path, in_process):
    clock = emulator_clock()
    emu = make_emulator(clock=clock.now)
    emu.go_down()
    cert, key = identity
    path = tmp_path / "credentials"
    running = in_process(
        "update",
        [
            "--credentials-file",
            str(path),
            "--min-refresh-interval",
            "0.3",
            "--max-backoff",
            "1",
            "--max-attempts",
            "1",
            "--connect-timeout",
            "2",
            *identity_args(cert, key),
            *emulator_args(emu),
        ],
        clock,
    )
    try:
        running.advance_until(lambda: "first CreateSession failed" in running.log(), 30, message="first failure logged")
        running.advance(3)  # several retries, all failing
        assert running.alive() and not path.exists()
        emu.come_back()
        running.advance_until(lambda: path.exists() and "default" in _read(path), 20, message="write after recovery")
    finally:
        emu.come_back()
        assert running.stop() == 0


def test_twenty_concurrent_update_processes_and_a_reader(emulator, identity, tmp_path):
    cert, key = identity
    path = tmp_path / "credentials"
    preamble = "# shared file\n[default]\naws_access_key_id = AKIAKEEP\n\n[other]\nregion = us-east-2\n"
    path.write_text(preamble)
    # The reader is a process of its own, reading the file back to back until told to stop.
    reader = subprocess.Popen(
        [sys.executable, "-m", "tests.delivery.file_reader", str(path)],
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.write(json.dumps(preamble) + "\n")
    reader.stdin.flush()
    assert reader.stdout.readline() == "reading\n"
    # Twenty real processes, each running the CLI's update --once, released together (see
    # forked_commands.py: they share one start-up's imports, not their descriptors or locks).
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.delivery.forked_commands",
            "20",
            "update",
            "--once",
            "--credentials-file",
            str(path),
            *identity_args(cert, key),
            *emulator_args(emulator),
            "--profile",
            "w{i}",
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(reader.communicate(timeout=60)[0])  # closing its stdin stops it
    assert launched.returncode == 0, launched.stderr
    results = json.loads(launched.stdout)
    assert [code for code, _ in results] == [0] * 20, [err for code, err in results if code]
    assert report["problems"] == [] and report["reads"] > 20  # the reader really read while they wrote
    parser = _read(path)
    assert {f"w{i}" for i in range(20)} <= set(parser.sections())
    assert parser["default"]["aws_access_key_id"] == "AKIAKEEP" and parser["other"]["region"] == "us-east-2"
    assert path.read_text().startswith(preamble)


def test_update_debug_log_has_no_secrets(emulator, identity, tmp_path):
    cert, key = identity
    path = tmp_path / "credentials"
    result = run_rasign(
        "update",
        "--once",
        "--debug",
        "--credentials-file",
        str(path),
        *identity_args(cert, key),
        *emulator_args(emulator),
    )
    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr
    section = _read(path)["default"]
    for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        assert section[name] not in result.stderr + result.stdout
