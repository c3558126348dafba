"""A real ``rasign agent`` process per test, on a private socket, stopped afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import clean_env

REPO = Path(__file__).resolve().parents[2]

# Shared with other areas: SoftHSM tokens (provisioned once per session) and private emulators.
from tests.delivery.conftest import make_emulator  # noqa: E402,F401
from tests.pkcs11.conftest import hsm  # noqa: E402,F401


@dataclass
class RunningAgent:
    socket: str
    process: subprocess.Popen
    log: Path

    @property
    def env(self) -> dict[str, str]:
        return {"RASIGN_AGENT_SOCK": self.socket}

    def ask(self, *action: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "rasign", "agent", *action, "--socket", self.socket],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def start_agent(tmp_path):
    """Factory: start an agent with ``extra_env`` (e.g. the SoftHSM config); all are stopped at the end."""
    started: list[RunningAgent] = []
    cleanup: list[Path] = []

    def start(*args: str, extra_env: dict[str, str] | None = None, reachable: bool = False) -> RunningAgent:
        if reachable:  # parents another uid can traverse (pytest's tmp_path is 0700)
            directory = Path(tempfile.mkdtemp(prefix="rasign-agent-", dir="/tmp")) / "sock"
            cleanup.append(directory.parent)
            os.chmod(directory.parent, 0o755)
        else:
            directory = tmp_path / f"agent{len(started)}"
        directory.mkdir(mode=0o700)
        socket_path = str(directory / "agent.sock")
        log = tmp_path / f"agent{len(started)}.log"
        env = clean_env({"RASIGN_AGENT_SOCK": socket_path, **(extra_env or {})})
        process = subprocess.Popen(
            [sys.executable, "-m", "rasign", "agent", "--socket", socket_path, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while not os.path.exists(socket_path):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"agent did not start: {log.read_text()}")
            time.sleep(0.02)
        running = RunningAgent(socket_path, process, log)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
    for path in cleanup:
        shutil.rmtree(path, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    # tests/pkcs11/test_prompt.py's pty runner is reused here; its module marks itself so.
    config.addinivalue_line("markers", "pkcs11_pty: PKCS#11 tests that give the child a pty as terminal")
