"""Run ``rasign emulator`` as a script does: start it, read its one JSON line, stop it.

Shared by the tests of the command (``test_command.py``, ``test_command_output.py``), which
differ in the flags and in what they check, not in how the process is driven.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_env


def start(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> tuple[subprocess.Popen, dict]:
    """``python -m rasign emulator ARGS`` in the background and the announcement it printed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rasign", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(env),
        cwd=cwd,
    )
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        pytest.fail(f"emulator did not start: {process.stderr.read()}")
    return process, json.loads(line)


def stop(process: subprocess.Popen) -> tuple[int, str, str]:
    """SIGTERM, as a service manager does; (exit code, the rest of stdout, all of stderr)."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=15)
    return process.returncode, out, err


def demo_flags(info: dict, *, trust_anchor_arn: str | None = None, profile_arn: str | None = None) -> list[str]:
    """credential-process flags for the demo identity of the emulator that announced ``info`` (no role)."""
    demo = info["demo_identity"]
    return [
        "--certificate",
        demo["certificate"],
        "--private-key",
        demo["private_key"],
        "--endpoint",
        info["endpoint"],
        "--ca-bundle",
        info["ca_bundle"],
        "--trust-anchor-arn",
        trust_anchor_arn or info["trust_anchor_arn"],
        "--profile-arn",
        profile_arn or info["profile_arn"],
    ]
