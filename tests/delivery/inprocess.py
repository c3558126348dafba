"""Run ``serve`` or ``update`` on a thread of the test process, on a :class:`FakeClock`.

The command is the real one (:func:`rasign.commands.serve.run` with the CLI's own parser,
real sockets, real key files, the real emulator over TLS); only time is fake. The emulator
reads the same fake clock, so the credentials it issues expire in fake time, and a test
moves hours of refresh schedule forward in milliseconds instead of sleeping through them.
Signals become :class:`~rasign.lifecycle.Lifecycle` calls: ``stop()`` is what SIGTERM
does, ``hangup()`` what SIGHUP does.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rasign.clock import FakeClock
from rasign.lifecycle import Lifecycle


def emulator_clock() -> FakeClock:
    """A fake clock starting on a whole second: the emulator issues whole-second expirations."""
    import datetime as dt

    return FakeClock(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))


WAITERS = 2
"""Threads that wait on the clock while a command runs: its refresher and its main loop."""


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # with the traceback, if the record carries one


class InProcess:
    """One command running on a thread, with its log lines and a fake clock to drive."""

    def __init__(self, command: str, argv: list[str], clock: FakeClock, tmp: Path) -> None:
        from rasign.cli.main import build_parser

        self.command = command
        self.clock = clock
        self.ready_path = tmp / f"ready-{time.monotonic_ns()}.json"
        if command == "serve":
            argv = [*argv, "--ready-file", str(self.ready_path)]
        self.args = build_parser(only=command).parse_args([command, *argv])
        self.lifecycle = Lifecycle(clock)
        self.ready: dict[str, Any] = {}
        self.result: int | None = None
        self.error: BaseException | None = None
        self._run = importlib.import_module(f"rasign.commands.{command.replace('-', '_')}").run
        self._lines = _Lines()
        self._thread = threading.Thread(target=self._main, name=f"test-{command}", daemon=True)

    def _main(self) -> None:
        try:
            self.result = self._run(self.args, lifecycle=self.lifecycle)
        except BaseException as err:  # reported by stop()/start() in the test's thread
            self.error = err

    # -- lifecycle

    def start(self, timeout: float = 60) -> InProcess:
        """Start the command; for serve, return once it listens (its ready file exists)."""
        logger = logging.getLogger("rasign")
        self._level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self._lines)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while self.command == "serve" and not self.ready_path.exists():
            if not self._thread.is_alive():
                self._detach()
                raise AssertionError(f"serve ended before listening: {self.error!r}\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not become ready:\n{self.log()}")
            time.sleep(0.01)  # real time: waiting for the thread to bind, not for a refresh
        if self.command == "serve":
            self.ready = json.loads(self.ready_path.read_text())
        return self

    def stop(self, timeout: float = 15) -> int:
        """What SIGTERM does; returns the command's exit status (re-raises its error)."""
        self.lifecycle.stop()
        self._thread.join(timeout)
        self._detach()
        if self._thread.is_alive():
            raise AssertionError(f"{self.command} did not stop:\n{self.log()}")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def close(self) -> None:
        """Stop the command if it still runs and restore the logger (fixture teardown; never raises)."""
        if self._thread.is_alive():
            self.lifecycle.stop()
            self._thread.join(15)
        self._detach()

    def _detach(self) -> None:
        logger = logging.getLogger("rasign")
        if self._lines in logger.handlers:
            logger.removeHandler(self._lines)
            logger.setLevel(self._level)

    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def port(self) -> int:
        return int(self.ready["port"])

    def log(self) -> str:
        return "\n".join(self._lines.lines)

    # -- time

    def settle(self) -> None:
        """Return once the refresher and the main loop wait on the clock again (real-time bound: a slow CI)."""
        self.clock.settle(timeout=60, waiters=WAITERS)

    def advance(self, seconds: float, step: float = 0.25) -> None:
        """Move fake time forward in ``step`` increments, letting the command react to each."""
        moved = 0.0
        while moved < seconds - 1e-9:
            self.clock.advance(min(step, seconds - moved), settle=False)
            moved += step
            self.settle()

    def advance_until(
        self, predicate: Callable[[], Any], within: float, step: float = 0.25, message: str = "condition"
    ) -> Any:
        """Advance fake time until ``predicate()`` is true, at most ``within`` fake seconds."""
        self.settle()
        moved = 0.0
        while True:
            value = predicate()
            if value:
                return value
            if moved >= within:
                raise AssertionError(f"not true after {within} fake seconds: {message}\n{self.log()}")
            self.advance(step, step)
            moved += step
