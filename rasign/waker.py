"""Wake and stop a ``selectors`` loop from another thread or a signal handler.

The serve endpoint's loop and the agent's loop both block in ``select`` and must return at
once when asked to stop (a signal) or when a worker finished (the agent's pool). A socket pair
whose read end is registered with the loop's selector does that; writing a byte is safe in a
signal handler and never blocks (a full pipe already means "wake up"). Standard library only.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import selectors
import socket
from typing import Any


class Waker:
    """A non-blocking socket pair; :meth:`wake` from anywhere, :meth:`drain` on the loop."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)

    def register(self, selector: selectors.BaseSelector, data: Any) -> None:
        """Watch the read end in ``selector``; its events carry ``data``."""
        selector.register(self._read, selectors.EVENT_READ, data)

    def wake(self) -> None:
        """Make the loop's next (or current) ``select`` return; never blocks, never raises."""
        with contextlib.suppress(OSError):
            self._write.send(b"x")

    def drain(self) -> None:
        """Read the pending wake-ups (on the loop, when the read end is ready)."""
        with contextlib.suppress(OSError):
            self._read.recv(4096)

    def close(self) -> None:
        self._read.close()
        self._write.close()


class StoppableLoop(abc.ABC):
    """``serve_forever``/``stop`` for a selector loop whose one turn is :meth:`poll`.

    Shared by serve's endpoint and the agent: a bug in one turn is logged and costs that turn,
    not the daemon; a hundred in a row mean the loop itself is broken, and it raises.
    """

    LOOP_NAME = "event loop"
    """Named in the log line of a failed turn."""
    LOGGER = "rasign"
    """The logger that line goes to (the daemon's own)."""
    POLL_EVERY = 1.0
    """Seconds one turn may block, so timeouts are swept at least that often."""

    def __init__(self) -> None:
        self._stopping = False
        self._waker = Waker()

    @abc.abstractmethod
    def poll(self, timeout: float | None) -> None:
        """One turn: wait up to ``timeout`` seconds for events, handle them, sweep timeouts."""

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Run turns until :meth:`stop` (a request, a signal, another thread)."""
        every = self.POLL_EVERY if poll_interval is None else poll_interval
        failures = 0
        while not self._stopping:
            try:
                self.poll(every)
                failures = 0
            except Exception:  # noqa: BLE001 - a bug costs one turn of the loop, not the daemon
                failures += 1
                logging.getLogger(self.LOGGER).exception("%s error", self.LOOP_NAME)
                if failures >= 100:
                    raise

    def stop(self) -> None:
        """Make :meth:`serve_forever` return; safe from other threads and signal handlers."""
        self._stopping = True
        self._waker.wake()


class Refusals:
    """Counts refused peers and says when a refusal may be logged: at most once per ``every`` seconds.

    Both loops (serve's unix listeners, the agent) refuse other uids; another uid must not be
    able to flood the daemon's log by connecting in a loop.
    """

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self.count = 0
        self._last_logged: float | None = None

    def note(self, now: float) -> bool:
        """Count one refusal at ``now`` (monotonic seconds); True when it should be logged."""
        self.count += 1
        if self._last_logged is not None and now - self._last_logged < self.every:
            return False
        self._last_logged = now
        return True
