"""Operations: systemd readiness, structured logs, unit files that systemd accepts."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.delivery.helpers import identity_args, serve_args, start_rasign, wait_for

pytestmark = pytest.mark.network

DOCS = Path(__file__).resolve().parents[2] / "docs" / "systemd"


def test_serve_notifies_systemd_when_ready_and_when_stopping(emulator, identity, tmp_path):
    cert, key = identity
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(30)
    try:
        running = start_rasign("serve", serve_args(emulator, cert, key), tmp_path, env={"NOTIFY_SOCKET": address})
        ready = listener.recv(4096).decode()
        assert "READY=1" in ready
        assert running.stop() == 0
        assert "STOPPING=1" in listener.recv(4096).decode()
    finally:
        listener.close()


def test_update_notifies_systemd_in_loop_mode(emulator, identity, tmp_path):
    cert, key = identity
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(30)
    try:
        from tests.conftest import emulator_args

        running = start_rasign(
            "update",
            ["--credentials-file", str(tmp_path / "creds"), *identity_args(cert, key), *emulator_args(emulator)],
            tmp_path,
            env={"NOTIFY_SOCKET": address},
        )
        assert "READY=1" in listener.recv(4096).decode()
        assert (tmp_path / "creds").exists()
        assert running.stop() == 0
    finally:
        listener.close()


def test_json_log_format_is_one_object_per_line(emulator, identity, tmp_path):
    cert, key = identity
    running = start_rasign("serve", serve_args(emulator, cert, key, "--log-format", "json"), tmp_path)
    wait_for(lambda: "Local server started" in running.log(), 10, message="start-up lines")
    assert running.stop() == 0
    lines = [line for line in running.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(record["message"].startswith("Local server started on port: ") for record in records)
    assert any(record["message"] == "shutting down" for record in records)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize(
    "unit", ["rasign-serve.service", "rasign-update@.service", "rasign-agent.socket", "rasign-agent.service"]
)
def test_unit_files_parse(unit, tmp_path):
    target = tmp_path / (unit.replace("@", "@example") if "@" in unit else unit)
    target.write_text((DOCS / unit).read_text())
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(target)], check=False, capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in result.stderr.splitlines()
        if "Unknown key" in line or "Unknown section" in line or "Invalid" in line
    ]
    assert problems == [], result.stderr
