"""Stop and reload for long-running commands (``serve``, ``update``, ``agent``), written once.

Every daemon-like command needs the same three things: SIGTERM and SIGINT end it cleanly,
SIGHUP asks for a fresh CreateSession, and the main thread waits until told to stop while
checking that its workers are still alive. :class:`Lifecycle` does all three. The same
requests can come from code (:meth:`Lifecycle.stop`, :meth:`Lifecycle.hangup`), so tests
and embedders drive a command in-process, with a :class:`~rasign.clock.FakeClock`, exactly
as a service manager drives it with signals.

Standard library only.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator

from rasign.clock import SYSTEM, Clock

log = logging.getLogger("rasign.lifecycle")

CHECK_EVERY = 1.0
"""Seconds (of the lifecycle's clock) between liveness checks while running."""


class Lifecycle:
    """The stop and hangup requests of one long-running command."""

    def __init__(self, clock: Clock = SYSTEM, *, hangup_does: str = "refreshing credentials") -> None:
        self.clock = clock
        self.hangup_does = hangup_does
        """What SIGHUP means for this command, for its log line (the agent locks instead)."""
        self._stop = threading.Event()
        self._on_hangup: list[Callable[[], None]] = []
        self._on_stop: list[Callable[[], None]] = []

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stop.is_set()

    def on_hangup(self, action: Callable[[], None]) -> None:
        """Run ``action`` on SIGHUP (or :meth:`hangup`); actions run in the order given."""
        self._on_hangup.append(action)

    def on_stop(self, action: Callable[[], None]) -> None:
        """Also run ``action`` when a stop is requested: it runs in a signal handler, so it must
        only set a flag or wake a loop (as the agent's event loop ``stop`` does)."""
        self._on_stop.append(action)

    def stop(self) -> None:
        """Ask :meth:`run_until_stopped` to return; safe from any thread and from signal handlers."""
        self._stop.set()
        for action in self._on_stop:
            action()

    def hangup(self) -> None:
        """What SIGHUP does: run every hangup action (e.g. refresh the credentials now)."""
        for action in self._on_hangup:
            action()

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT stop, SIGHUP hangs up, while the block runs; the old handlers come back after.

        Only the main thread may install signal handlers: elsewhere (a command run in a
        test's thread) this does nothing and the caller uses :meth:`stop`/:meth:`hangup`.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        wanted: dict[int, Callable[[int, object], None]] = {
            signal.SIGTERM: self._stop_signal,
            signal.SIGINT: self._stop_signal,
        }
        if hasattr(signal, "SIGHUP"):
            wanted[signal.SIGHUP] = self._hangup_signal
        previous = {number: signal.signal(number, handler) for number, handler in wanted.items()}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def run_until_stopped(self, check: Callable[[], None] | None = None, every: float = CHECK_EVERY) -> None:
        """Block until :meth:`stop` (or a stop signal); ``check`` runs every ``every`` seconds and may raise."""
        while not self.clock.wait(self._stop, every):
            if check is not None:
                check()

    def _stop_signal(self, _signum: int, _frame: object) -> None:
        self.stop()

    def _hangup_signal(self, _signum: int, _frame: object) -> None:
        log.info("SIGHUP: %s", self.hangup_does)
        self.hangup()
