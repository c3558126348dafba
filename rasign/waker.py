"""Wake a ``selectors`` loop from another thread or a signal handler.

The serve endpoint's loop and the agent's loop both block in ``select`` and must return at
once when asked to stop (a signal) or when a worker finished (the agent's pool). A socket pair
whose read end is registered with the loop's selector does that; writing a byte is safe in a
signal handler and never blocks (a full pipe already means "wake up"). Standard library only.
"""

from __future__ import annotations

import contextlib
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
