"""Delivery with a hardware-style key (SoftHSM2): cache on by default, serve keeps one login."""

from __future__ import annotations

import json
import signal

import pytest

from tests.conftest import emulator_args, run_rasign
from tests.delivery.helpers import ROLE_PATH, get_imds, start_rasign, token, wait_for

pytestmark = [pytest.mark.softhsm, pytest.mark.network]

URI = "pkcs11:token=rasign-a;object=ec-p256"


def test_credential_process_caches_by_default_for_pkcs11(hsm, emulator, tmp_path):
    env = {**hsm.env, "RASIGN_PKCS11_PIN": hsm.pin("rasign-a"), "RASIGN_CACHE_DIR": str(tmp_path / "c")}
    args = [
        "credential-process",
        "--pkcs11-lib",
        hsm.module,
        "--certificate",
        URI,
        "--private-key",
        URI,
        *emulator_args(emulator),
    ]
    before = emulator.create_session_count
    first = run_rasign(*args, env=env)
    assert first.returncode == 0, first.stderr
    second = run_rasign(*args, env=env)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert emulator.create_session_count == before + 1
    assert hsm.pin("rasign-a") not in "".join(p.name for p in (tmp_path / "c").iterdir())


def test_serve_refreshes_with_one_pkcs11_login(hsm, emulator, tmp_path):
    """Three CreateSessions, one C_Login (counted by OpenSC's pkcs11-spy in front of SoftHSM)."""
    if hsm.spy is None:
        pytest.skip("OpenSC's pkcs11-spy.so not found")
    spy_log = tmp_path / "spy.log"
    env = {
        **hsm.env,
        "RASIGN_PKCS11_PIN": hsm.pin("rasign-a"),
        "PKCS11SPY": hsm.module,
        "PKCS11SPY_OUTPUT": str(spy_log),
    }
    running = start_rasign(
        "serve",
        [
            "--pkcs11-lib",
            hsm.spy,
            "--certificate",
            URI,
            "--private-key",
            URI,
            *emulator_args(emulator),
            "--port",
            "0",
            "--min-refresh-interval",
            "0.2",
            "--no-prompt",
        ],
        tmp_path,
        env=env,
    )
    try:
        role = running.ready["role_name"]
        first = json.loads(get_imds(running.port, f"{ROLE_PATH}/{role}", token(running.port))[2])
        for _ in range(2):
            count = running.log().count("credentials refreshed")
            running.process.send_signal(signal.SIGHUP)
            wait_for(lambda count=count: running.log().count("credentials refreshed") > count, 20, message="refresh")
        latest = json.loads(get_imds(running.port, f"{ROLE_PATH}/{role}", token(running.port))[2])
        assert latest["AccessKeyId"] != first["AccessKeyId"]
    finally:
        assert running.stop() == 0
    calls = [line.split(": ")[-1].strip() for line in spy_log.read_text().splitlines()]
    assert calls.count("C_Login") == 1, calls.count("C_Login")
    assert calls.count("C_Sign") + calls.count("C_SignInit") >= 3
    assert hsm.pin("rasign-a") not in running.log()
