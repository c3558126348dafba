"""Run one bad-input case and check everything a clean failure promises.

A case is a command line (with ``{placeholders}`` for the fixture files), the exit code it
must end with, and a fragment its one stderr line must contain. :func:`check` asserts:

- the exit code, and that it is never 0 or 70 (internal error);
- exactly one line on stderr, starting ``rasign: error:``, with no traceback;
- nothing on stdout;
- no secret of the fixture world (passwords, PINs, key material) in either stream;
- no fixture file created, changed or removed;
- no request reached the emulator when the fault is local (checked before any network).

Cases run in-process through :func:`rasign.cli.main.main` (the same code path as the
console script, minus interpreter start-up) unless they need a process of their own
(``serve``, native PKCS#11/TPM libraries, a private environment); those run via
``tests.conftest.run_rasign``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

EXIT_INTERNAL = 70


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` (with ``{name}`` placeholders), expected ``code`` and fragment."""

    id: str
    argv: tuple[str, ...]
    code: int
    says: str = ""
    env: dict[str, str] = field(default_factory=dict)
    local: bool = True
    """No request may reach the emulator: the fault is found before the network."""
    own_process: bool = False
    stdin: str | None = None

    def param(self, *marks: Any) -> Any:
        return pytest.param(self, id=self.id, marks=marks)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@dataclass
class World:
    """Fixture files, the emulator they point at, and the secrets that must never show."""

    root: Path
    paths: dict[str, str]
    secrets: list[str]
    emulator: Any
    watched: list[Path] = field(default_factory=list)

    def fill(self, text: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: self.paths[m.group(1)] if m.group(1) in self.paths else m.group(0), text)

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """Every watched file's mode and content hash (FIFOs and devices by mode only)."""
        state: dict[str, tuple[int, str]] = {}
        for base in self.watched:
            for dirpath, dirnames, filenames in os.walk(base):
                for name in dirnames + filenames:
                    path = os.path.join(dirpath, name)
                    info = os.lstat(path)
                    digest = ""
                    if os.path.isfile(path) and not os.path.islink(path):
                        with open(path, "rb") as handle:
                            digest = hashlib.sha256(handle.read()).hexdigest()
                    state[path] = (info.st_mode, digest)
        return state


def run_in_process(argv: list[str], env: dict[str, str], capfd: Any, monkeypatch: Any, stdin: str | None) -> Outcome:
    """``rasign ARGV`` in this process with exactly ``env`` for AWS_/RASIGN_ variables."""
    import io
    import sys

    from rasign.cli.main import main
    from tests.support.inprocess import rasign_logging_restored

    for name in list(os.environ):
        if name.startswith(("AWS_", "RASIGN_", "TPM", "TCTI")) or name.lower() in (
            "https_proxy",
            "http_proxy",
            "all_proxy",
            "no_proxy",
        ):
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
    capfd.readouterr()
    with rasign_logging_restored():  # commands change logger levels (``emulator`` turns its access log up)
        code = main(argv)
    out, err = capfd.readouterr()
    return Outcome(code, out, err)


def run_own_process(argv: list[str], env: dict[str, str], stdin: str | None) -> Outcome:
    from tests.conftest import run_rasign

    try:
        result = run_rasign(*argv, env=env, input=stdin, timeout=30)
    except subprocess.TimeoutExpired as err:  # a bad input must never hang (or start serving)
        raise AssertionError(f"rasign {' '.join(argv)} did not fail within 30 s") from err
    return Outcome(result.returncode, result.stdout, result.stderr)


def check(
    case: Case,
    world: World,
    capfd: Any,
    monkeypatch: Any,
    *,
    extra_env: dict[str, str] | None = None,
    before_run: Callable[[], None] | None = None,
    secrets: Iterable[str] = (),
) -> Outcome:
    """Run ``case`` and assert every property of a clean failure (see the module docstring)."""
    argv = [world.fill(arg) for arg in case.argv]
    # The argv-secret warning is its own test (tests/cli); here every case must be one line.
    env = {
        "RASIGN_CACHE_DIR": world.paths["cache_dir"],
        "RASIGN_NO_PROMPT": "1",
        "RASIGN_NO_SECRET_WARNING": "1",
        **(extra_env or {}),
    }
    env.update({name: world.fill(value) for name, value in case.env.items()})
    files_before = world.snapshot()
    requests_before = len(world.emulator.requests)
    if before_run:
        before_run()
    if case.own_process:
        outcome = run_own_process(argv, env, case.stdin)
    else:
        outcome = run_in_process(argv, env, capfd, monkeypatch, case.stdin)
    shown = f"exit {outcome.code}\nstdout: {outcome.stdout!r}\nstderr: {outcome.stderr!r}"
    assert outcome.code not in (0, EXIT_INTERNAL), shown
    assert outcome.code == case.code, shown
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rasign: error: "), shown
    assert "Traceback" not in outcome.stderr and "internal error" not in outcome.stderr, shown
    assert "\x1b" not in outcome.stderr and "\x00" not in outcome.stderr, shown
    assert len(lines[0]) <= 2000, f"stderr line of {len(lines[0])} characters"
    assert case.says.lower() in lines[0].lower(), shown
    assert outcome.stdout == "", shown
    for secret in [*world.secrets, *secrets]:
        assert secret not in outcome.stderr and secret not in outcome.stdout, f"secret {secret!r} shown: {shown}"
    assert world.snapshot() == files_before, f"files changed: {shown}"
    if case.local:
        sent = world.emulator.requests[requests_before:]
        assert not sent, f"{len(sent)} request(s) sent for a local fault: {shown}"
    return outcome
