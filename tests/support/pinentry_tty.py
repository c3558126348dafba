"""A pseudo-terminal on which the real ``pinentry-tty`` asks, and a typist that answers it.

rasign itself runs without a controlling terminal (as under the AWS CLI started from an IDE);
``GPG_TTY`` names this pty, so the pinentry program opens it by name and the test types the
secret there. The typist waits until pinentry has switched echo off, because its terminal set-up
discards what was typed before.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import subprocess
import sys
import termios
import threading
import time

import pytest

PROMPTS = (b"PIN: ", b"Password: ")


def pinentry_tty() -> str:
    """The path of Debian's pinentry-tty (scripts/bootstrap.sh installs it); skip when absent."""
    found = shutil.which("pinentry-tty")
    if found is None:
        pytest.skip("pinentry-tty is not installed (scripts/bootstrap.sh installs it)")
    return found


class Typist:
    """Owns a pty; answers each pinentry prompt that appears on it with the next of ``answers``."""

    def __init__(self, answers: list[bytes]) -> None:
        self.master, self.slave = pty.openpty()
        self.name = os.ttyname(self.slave)
        self.answers = list(answers)
        self.transcript = b""
        self.prompts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        """What points a pinentry run at this terminal."""
        return {"RASIGN_PINENTRY": pinentry_tty(), "GPG_TTY": self.name, "TERM": "dumb"}

    def __enter__(self) -> Typist:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self.master)
        os.close(self.slave)

    def run_owning(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
        """Run rasign with this pty as its controlling terminal, but stdin, stdout and stderr not on it."""
        from tests.conftest import REPO, clean_env

        slave = self.slave

        def become_terminal_owner() -> None:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        return subprocess.run(
            [sys.executable, "-m", "rasign", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=clean_env(env),
            pass_fds=(slave,),
            cwd=REPO,
            timeout=60,
            preexec_fn=become_terminal_owner,  # noqa: PLW1509 - setsid + TIOCSCTTY must run in the child
        )

    def text(self) -> str:
        return self.transcript.decode("utf-8", "replace")

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            self.transcript += chunk
            pending += chunk
            if pending.endswith(PROMPTS):
                pending = b""
                self.prompts += 1
                if self.answers:
                    self._wait_for_echo_off()
                    os.write(self.master, self.answers.pop(0))

    def _wait_for_echo_off(self) -> None:
        deadline = time.monotonic() + 5
        while termios.tcgetattr(self.master)[3] & termios.ECHO and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # tcgetattr shows the new mode just before pinentry starts reading
