"""``rasign agent`` with real clients: credentials from memory, PINs typed once, locks, peers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import clean_env, emulator_args, run_rasign

pytestmark = pytest.mark.network


def _creds(agent, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_rasign("credential-process", *args, env={**agent.env, **(env or {})})


def _ok(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    out = json.loads(done.stdout)
    assert out["Version"] == 1 and out["AccessKeyId"]
    return out


def test_file_identity_is_minted_once_then_served_from_memory(start_agent, emulator, pki):
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-file")
    args = ("--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator))
    before = emulator.create_session_count
    first = _ok(_creds(agent, *args))
    second = _ok(_creds(agent, *args))
    assert first == second
    assert emulator.create_session_count == before + 1
    status = agent.ask("status", "--json")
    assert status.returncode == 0, status.stderr
    entries = json.loads(status.stdout)
    assert len(entries) == 1 and entries[0]["mints"] == 1 and entries[0]["seconds_left"] > 0
    assert first["SecretAccessKey"] not in status.stdout and first["SessionToken"] not in status.stdout


def test_relative_paths_are_resolved_in_the_client_directory(start_agent, emulator, pki, tmp_path):
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-relative")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rasign",
            "credential-process",
            "--certificate",
            cert.name,
            "--private-key",
            key.name,
            *emulator_args(emulator),
        ],
        env=clean_env(agent.env),
        cwd=cert.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    _ok(done)


def test_bad_flags_get_the_cli_error_through_the_agent(start_agent, emulator):
    agent = start_agent()
    done = _creds(
        agent, "--certificate", "/nonexistent/c.pem", "--private-key", "/nonexistent/k.pem", *emulator_args(emulator)
    )
    assert done.returncode == 4, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1 and done.stderr.startswith("rasign: error:")
    assert "/nonexistent/k.pem" in done.stderr  # the same first failure the in-process path reports


def test_no_agent_and_a_stopped_agent_fall_back_to_the_normal_path(start_agent, emulator, pki):
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-fallback")
    args = ("--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator))
    _ok(_creds(agent, *args))
    stopped = agent.ask("stop")
    assert stopped.returncode == 0, stopped.stderr
    agent.process.wait(15)
    assert not os.path.exists(agent.socket)
    _ok(_creds(agent, *args))  # no agent: minted in-process
    forced = _creds(agent, *args, "--agent")
    assert forced.returncode == 13 and "no agent" in forced.stderr and forced.stdout == ""


def test_agent_killed_mid_request_never_hangs_the_client(start_agent, make_emulator, pki):
    emulator = make_emulator()
    emulator.set_delay(30)  # the agent sits in CreateSession when it is killed
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-killed")
    args = ["credential-process", "--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator)]
    client = subprocess.Popen(
        [sys.executable, "-m", "rasign", *args, "--agent"],
        env=clean_env(agent.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until(lambda: emulator.create_session_count >= 1, 30)
        agent.process.send_signal(signal.SIGKILL)
        out, err = client.communicate(timeout=30)
    finally:
        emulator.set_delay(0)
    assert client.returncode == 13, err
    assert out == "" and err.count("\n") == 1 and "closed the connection" in err


def test_another_uid_is_refused_even_when_the_socket_is_opened_up(start_agent):
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another uid")
    agent = start_agent(reachable=True)
    # A careless root opens the directory and the socket to everyone: SO_PEERCRED still refuses.
    os.chmod(os.path.dirname(agent.socket), 0o755)
    os.chmod(agent.socket, 0o666)
    code = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.connect(sys.argv[1])\n"
        "s.sendall(json.dumps({'op': 'status'}).encode() + b'\\n')\n"
        "print(s.makefile().readline())\n"
    )
    done = subprocess.run(
        ["/usr/bin/python3", "-c", code, agent.socket],
        capture_output=True,
        text=True,
        timeout=30,
        user=65534,
        group=65534,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["ok"] is False and "only its own user" in answer["error"]["line"]


def test_agent_refuses_a_socket_directory_others_can_enter(tmp_path):
    directory = tmp_path / "open"
    directory.mkdir()
    os.chmod(directory, 0o755)
    done = subprocess.run(
        [sys.executable, "-m", "rasign", "agent", "--socket", str(directory / "a.sock")],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 13, done.stderr
    assert "open to other users" in done.stderr and "chmod 700" in done.stderr


def test_agent_creates_only_the_sockets_own_directory(tmp_path):
    """``--socket /missing/deeper/a.sock`` is refused; nothing is created on the way."""
    missing = tmp_path / "missing"
    done = subprocess.run(
        [sys.executable, "-m", "rasign", "agent", "--socket", str(missing / "deeper" / "a.sock")],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 13 and len(done.stderr.splitlines()) == 1, done.stderr
    assert f"{missing} does not exist" in done.stderr
    assert not missing.exists()


def _wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_signals_hang_up_to_lock_and_terminate_to_stop_cleanly(start_agent, emulator, pki):
    agent = start_agent("--debug")
    cert, key = pki.software_identity(stem="agent-signals")
    first = _ok(_creds(agent, "--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator)))
    agent.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while "SIGHUP: forgetting every PIN and closing token sessions" not in agent.log.read_text():
        assert agent.process.poll() is None and time.monotonic() < deadline, agent.log.read_text()
        time.sleep(0.02)
    status = agent.ask("status", "--json")  # still serving after the hang-up
    assert status.returncode == 0 and json.loads(status.stdout)[0]["secrets_held"] == []
    assert first["SecretAccessKey"] not in agent.log.read_text()
    agent.process.send_signal(signal.SIGTERM)
    assert agent.process.wait(15) == 0
    assert not os.path.exists(agent.socket)


IMPOSTOR = (
    "import os, socket, sys, time\n"
    "path, log = sys.argv[1], sys.argv[2]\n"
    "server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
    "server.bind(path)\n"
    "server.listen(8)\n"
    "print('ready', flush=True)\n"
    "server.settimeout(60)\n"
    "while True:\n"
    "    conn, _ = server.accept()\n"
    "    conn.settimeout(2)\n"
    "    try:\n"
    "        data = conn.recv(65536)\n"
    "    except OSError:\n"
    "        data = b''\n"
    "    with open(log, 'ab') as out:\n"
    "        out.write(data)\n"
    "    try:\n"
    '        conn.sendall(b\'{"ok": true, "output": "{}"}\\n\')\n'
    "    except OSError:\n"
    "        pass\n"
    "    conn.close()\n"
)


def test_a_socket_served_by_another_uid_gets_nothing(emulator, pki):
    """Without XDG_RUNTIME_DIR the socket is /tmp/rasign-UID/agent.sock, a name anyone can take first.

    A listener of another uid there gets no byte of the request (no environment, no PIN)
    and cannot hand back credentials: credential-process says so and mints itself, --agent fails.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to run the impostor as another uid")
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="rasign-impostor-", dir="/tmp"))  # reachable by uid 65534
    try:
        os.chown(directory, 65534, 65534)
        path, log = directory / "agent.sock", directory / "received"
        impostor = subprocess.Popen(
            ["/usr/bin/python3", "-c", IMPOSTOR, str(path), str(log)],
            stdout=subprocess.PIPE,
            text=True,
            user=65534,
            group=65534,
        )
        try:
            assert impostor.stdout.readline().strip() == "ready"
            cert, key = pki.software_identity(stem="agent-impostor")
            flags = ("--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator))
            env = {"RASIGN_AGENT_SOCK": str(path), "RASIGN_PKCS8_PASSWORD": "never-sent"}
            done = run_rasign("credential-process", *flags, "--no-cache", env=env)
            assert done.returncode == 0 and json.loads(done.stdout)["AccessKeyId"], done.stderr
            assert done.stderr.count("\n") == 1 and "served by uid 65534, not by you" in done.stderr
            forced = run_rasign("credential-process", "--agent", *flags, env=env)
            assert forced.returncode == 13 and forced.stdout == "" and forced.stderr.count("\n") == 1, forced.stderr
            status = run_rasign("agent", "status", "--socket", str(path), env=env)
            assert status.returncode == 13 and "served by uid 65534" in status.stderr
            exported = run_rasign("export", "--agent", *flags, env=env)
            assert exported.returncode == 13 and exported.stdout == ""
        finally:
            impostor.kill()
            impostor.wait()
        assert not log.exists() or log.read_bytes() == b""  # not one byte reached it
    finally:
        shutil.rmtree(directory, ignore_errors=True)
