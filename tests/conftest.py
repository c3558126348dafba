"""Fixtures shared by every test area: a throw-away PKI, the local emulator, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.flags import emulator_args as emulator_args  # the name tests import from here
from tests.support.pki import Pki

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rasign-session")


@pytest.fixture(scope="session")
def pki(session_dir) -> Pki:
    """One root CA for the whole run; leaves are issued per test."""
    return Pki(directory=session_dir)


@pytest.fixture(scope="session")
def emulator(pki):
    """A running Roles Anywhere + STS emulator on loopback that trusts ``pki``'s root."""
    from rasign.emulator import Emulator

    emu = Emulator(trust_anchor_pems=[pki.root_pem], region="us-east-1")
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def rasign_in_process(capfd):
    """Like :func:`run_rasign`, but in this process (see tests/support/inprocess.py for when that fits)."""
    from tests.support.inprocess import run_in_process

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        return run_in_process(args, env=env, input=input, capfd=capfd)

    return run


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child rasign: no AWS settings leak in from the host."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RASIGN_"))}
    env["PYTHONPATH"] = str(REPO)
    env.setdefault(
        "RASIGN_NO_SECRET_WARNING", "1"
    )  # tests pass throw-away secrets in argv; tests/cli checks the warning
    env.setdefault("RASIGN_CACHE_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"rasign-test-cache-{os.getpid()}"))
    # Never the machine's default agent socket: a developer's own agent (or one a concurrent run
    # started) would answer the test's credential-process with its own code and settings.
    env["RASIGN_AGENT_SOCK"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"rasign-test-no-agent-{os.getpid()}.sock")
    if extra:
        env.update(extra)
    return env


def run_rasign(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | bytes | None = None,
    text: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run ``python -m rasign ARGS`` in a fresh process with no controlling terminal."""
    return subprocess.run(
        [sys.executable, "-m", "rasign", *args],
        env=clean_env(env),
        input=input,
        capture_output=True,
        text=text,
        timeout=timeout,
        start_new_session=True,
    )


@pytest.fixture
def rasign_cli():
    return run_rasign
