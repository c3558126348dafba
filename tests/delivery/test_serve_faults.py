"""``rasign serve`` under failure: fail fast, last-good credentials, backoff, slow endpoint."""

from __future__ import annotations

import itertools
import json
import signal
import time

import pytest

from tests.conftest import emulator_args, run_rasign
from tests.delivery.helpers import (
    ROLE_PATH,
    get_imds,
    identity_args,
    request,
    serve_args,
    start_rasign,
    token,
    wait_for,
)
from tests.delivery.inprocess import emulator_clock

pytestmark = pytest.mark.network

FAST = [
    "--min-refresh-interval",
    "0.5",
    "--max-backoff",
    "1",
    "--max-attempts",
    "1",
    "--connect-timeout",
    "2",
    "--read-timeout",
    "10",
]


def _creds(running) -> tuple[int, dict | bytes]:
    role = running.ready["role_name"]
    status, _, body = get_imds(running.port, f"{ROLE_PATH}/{role}", token(running.port))
    return status, (json.loads(body) if status == 200 else body)


def _health(running) -> tuple[int, dict]:
    status, _, body = request("127.0.0.1", running.port, "GET", "/healthz")
    return status, json.loads(body)


def test_fails_fast_when_the_first_create_session_fails(make_emulator, identity, tmp_path):
    emu = make_emulator()
    emu.go_down()
    cert, key = identity
    started = time.monotonic()
    result = run_rasign(
        "serve",
        *identity_args(cert, key),
        *emulator_args(emu),
        "--port",
        "0",
        "--max-attempts",
        "2",
        "--connect-timeout",
        "2",
        timeout=60,
    )
    assert result.returncode == 9, result.stderr
    assert result.stderr.startswith("rasign: error: request send failed")
    assert "Traceback" not in result.stderr and "Local server started" not in result.stderr
    assert time.monotonic() - started < 30


def test_fails_fast_on_access_denied(make_emulator, identity, pki):
    emu = make_emulator()
    cert, key = identity
    args = [*identity_args(cert, key), *emulator_args(emu)]
    args[args.index("--role-arn") + 1] = "arn:aws:iam::123456789012:role/not-in-profile"
    result = run_rasign("serve", *args, "--port", "0")
    assert result.returncode == 11, result.stderr
    assert result.stderr.startswith("rasign: error:")


def test_last_good_credentials_survive_an_outage_until_expiry(make_emulator, identity, in_process):
    """Credentials live 20 s; the refresh is due at 8 s; the endpoint is down from the start.

    serve runs in-process on a fake clock that the emulator shares, so the 20 s lifetime
    and every retry pass in fake time (the test takes well under a second of real time).
    """
    clock = emulator_clock()
    emu = make_emulator(profile_duration=20, clock=clock.now)
    cert, key = identity
    running = in_process("serve", serve_args(emu, cert, key, "--refresh-ahead", "12", *FAST), clock)
    try:
        status, first = _creds(running)
        assert status == 200
        emu.go_down()
        # Refresh attempts fail from 8 s on; the last good credentials are still served.
        running.advance_until(lambda: _health(running)[1]["consecutive_failures"] >= 2, 20, message="failed refreshes")
        assert clock.monotonic() >= 8  # not one attempt before the refresh was due (20 s - 12 s ahead)
        status, during = _creds(running)
        assert status == 200 and during["AccessKeyId"] == first["AccessKeyId"]
        health_status, health = _health(running)
        assert health_status == 200 and health["state"] == "refreshing-failed" and health["last_error"]
        # Once they expire (minus the 5 s skew) the endpoint says so instead of inventing any.
        running.advance_until(lambda: _creds(running)[0] == 500, 20, message="HTTP 500 after expiry")
        assert clock.monotonic() == pytest.approx(15, abs=0.3)  # 20 s lifetime - 5 s skew
        status, body = _creds(running)
        assert b"no valid credentials available" in body and b"request send failed" in body
        health_status, health = _health(running)
        assert health_status == 503 and health["state"] == "expired" and health["healthy"] is False
        assert running.alive()
        # The endpoint comes back: new credentials without a restart.
        emu.come_back()
        running.advance_until(lambda: _creds(running)[0] == 200, 15, message="recovery")
        status, after = _creds(running)
        assert after["AccessKeyId"] != first["AccessKeyId"]
    finally:
        emu.come_back()
        assert running.stop() == 0


def test_throttling_backs_off_and_keeps_serving(make_emulator, identity, in_process):
    clock = emulator_clock()
    emu = make_emulator(clock=clock.now)  # the emulator's request times are fake time too
    cert, key = identity
    running = in_process(
        "serve",
        serve_args(emu, cert, key, "--min-refresh-interval", "0.2", "--max-backoff", "2", "--max-attempts", "1"),
        clock,
    )
    try:
        status, first = _creds(running)
        assert status == 200
        emu.throttle_next(4)
        calls_before = emu.create_session_count
        running.lifecycle.hangup()  # what SIGHUP does: force a refresh now
        running.advance_until(
            lambda: emu.create_session_count >= calls_before + 5, 40, step=0.05, message="refresh after throttling"
        )
        running.advance_until(lambda: _health(running)[1]["consecutive_failures"] == 0, 10, message="healthy again")
        # Attempts were spaced by a growing, jittered backoff, never hammered.
        times = [entry["time"] for entry in emu.requests if entry["path"] == "/sessions"][-5:]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert all(gap >= 0.19 for gap in gaps), gaps
        assert sum(gaps) >= 3.5, gaps  # each retry waits half to all of --max-backoff (2 s)
        # Old credentials were served throughout; new ones now.
        status, after = _creds(running)
        assert status == 200 and after["AccessKeyId"] != first["AccessKeyId"]
        assert "Throttl" in running.log()
    finally:
        assert running.stop() == 0


def test_slow_endpoint_never_delays_a_get(make_emulator, identity, tmp_path):
    """A CreateSession held unanswered by the endpoint: every GET is answered meanwhile."""
    emu = make_emulator()
    cert, key = identity
    running = start_rasign("serve", serve_args(emu, cert, key, "--min-refresh-interval", "0.2"), tmp_path)
    try:
        value = token(running.port)
        role = running.ready["role_name"]
        emu.hold_sessions()
        running.process.send_signal(signal.SIGHUP)
        wait_for(lambda: emu.held_sessions == 1, 10, 0.02, message="refresh in flight")
        for _ in range(30):
            status, _, _ = get_imds(running.port, f"{ROLE_PATH}/{role}", value)
            assert status == 200
        # Still unanswered after all 30 GETs: none of them waited for it.
        assert emu.held_sessions == 1
        emu.release_sessions()
        wait_for(lambda: running.log().count("credentials refreshed") >= 2, 20, message="the held refresh completes")
    finally:
        emu.release_sessions()
        running.stop()


def test_debug_logs_never_contain_secrets(emulator, identity, tmp_path):
    cert, key = identity
    running = start_rasign(
        "serve",
        serve_args(
            emulator,
            cert,
            key,
            "--debug",
            "--ecs",
            "--imds",
            "--auth-token-file",
            str(tmp_path / "auth"),
            "--min-refresh-interval",
            "0.2",
        ),
        tmp_path,
    )
    try:
        imds_token = token(running.port)
        role = running.ready["role_name"]
        _, _, body = get_imds(running.port, f"{ROLE_PATH}/{role}", imds_token)
        imds = json.loads(body)
        auth = (tmp_path / "auth").read_text().strip()
        _, _, ecs_body = request("127.0.0.1", running.port, "GET", "/v1/credentials", {"Authorization": auth})
        # Failed requests too: a wrong token must not be echoed.
        get_imds(running.port, ROLE_PATH, "wrong-" + imds_token)
        running.process.send_signal(signal.SIGHUP)
        wait_for(lambda: running.log().count("credentials refreshed") >= 2, 20, message="second refresh")
        _, _, body2 = get_imds(running.port, f"{ROLE_PATH}/{role}", imds_token)
        second = json.loads(body2)
    finally:
        running.stop()
    log = running.log()
    assert "DEBUG" in log  # debug logging was really on
    for secret in (
        imds["AccessKeyId"],
        imds["SecretAccessKey"],
        imds["Token"],
        second["AccessKeyId"],
        second["SecretAccessKey"],
        second["Token"],
        imds_token,
        auth,
    ):
        assert secret not in log
    assert json.loads(ecs_body)["AccessKeyId"] == imds["AccessKeyId"]
