"""One seam for time: the long-running parts read the clock only through a :class:`Clock`.

The refresher decides when to call CreateSession from two clocks: the monotonic one (for
intervals and backoff, immune to wall-clock jumps) and the wall clock (credentials expire
at a wall-clock instant). Tests and embedders pass a :class:`FakeClock` and move time
forward themselves, so an hour-long refresh schedule is tested in milliseconds instead of
by sleeping.

Standard library only.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the refresh machinery needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals)."""
        ...

    def now(self) -> _dt.datetime:
        """The wall-clock time, timezone-aware UTC (for expiry)."""
        ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Block until ``event`` is set or ``timeout`` seconds of this clock pass; True if set."""
        ...


class SystemClock:
    """The real clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.timezone.utc)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)


SYSTEM = SystemClock()
"""The clock every component uses unless it is given another."""


class FakeClock:
    """A clock that moves only when told to; waiters wake when their deadline is passed.

    ``advance(seconds)`` moves both clocks; :meth:`settle` returns once every thread that
    waits on this clock is blocked again with a deadline still in the future, i.e. it has
    finished reacting to the last advance. Together they make background threads
    deterministic in tests.
    """

    def __init__(self, start: _dt.datetime | None = None) -> None:
        self._wall = start or _dt.datetime.now(_dt.timezone.utc)
        self._mono = 0.0
        self._cond = threading.Condition()
        self._waiters: dict[int, tuple[float, threading.Event]] = {}

    def monotonic(self) -> float:
        with self._cond:
            return self._mono

    def now(self) -> _dt.datetime:
        with self._cond:
            return self._wall + _dt.timedelta(seconds=self._mono)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        me = threading.get_ident()
        with self._cond:
            deadline = self._mono + max(timeout, 0.0)
            self._waiters[me] = (deadline, event)
            self._cond.notify_all()
            try:
                while not event.is_set() and self._mono < deadline:
                    # A short real-time poll only to notice event.set() from another thread;
                    # the fake deadline is what ends the wait.
                    self._cond.wait(0.005)
                return event.is_set()
            finally:
                self._waiters.pop(me, None)
                self._cond.notify_all()

    def advance(self, seconds: float, *, step: float | None = None, settle: bool = True) -> None:
        """Move time forward by ``seconds`` (in increments of ``step``), settling after each."""
        remaining = seconds
        increment = step or seconds
        while remaining > 1e-12:
            moved = min(increment, remaining)
            with self._cond:
                self._mono += moved
                self._cond.notify_all()
            remaining -= moved
            if settle:
                self.settle()

    def settle(self, timeout: float = 10.0, waiters: int = 1) -> None:
        """Wait (real time, at most ``timeout``) until ``waiters`` threads wait with future deadlines."""
        limit = time.monotonic() + timeout
        with self._cond:
            while True:
                pending = [
                    deadline for deadline, event in self._waiters.values() if deadline <= self._mono or event.is_set()
                ]
                if len(self._waiters) >= waiters and not pending:
                    return
                left = limit - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._waiters)} waiter(s) on the fake clock, {len(pending)} still due")
                self._cond.wait(min(left, 0.005))
