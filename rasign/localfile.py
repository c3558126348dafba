"""Read a small local file that a user named, refusing what is not one.

A path given for a PIN, a password or a selector can name a FIFO (the read would block
forever), a device (``/dev/zero`` never ends), a directory, or a multi-gigabyte file. Each
is refused with a reason the caller wraps into its own one-line error.

Standard library only.
"""

from __future__ import annotations

import os
import stat


class NotReadable(Exception):
    """The file cannot be used; ``reason`` says why in words fit for a one-line error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_regular(path: str, *, limit: int, head: bool = False) -> bytes:
    """The bytes of regular file ``path`` (at most ``limit``), or :class:`NotReadable`.

    With ``head`` a larger file is not an error: its first ``limit`` bytes are returned
    (enough to recognise what a file is).

    Opened non-blocking so a FIFO cannot hang the command; checked with ``fstat`` on the
    open descriptor so the answer is about the file actually read.
    """
    return read_regular_with_status(path, limit=limit, head=head)[0]


def read_regular_with_status(path: str, *, limit: int, head: bool = False) -> tuple[bytes, os.stat_result]:
    """:func:`read_regular` plus the ``fstat`` of the file read (its mode and owner, for callers that check them)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise NotReadable(err.strerror or str(err)) from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotReadable("not a regular file")
        if info.st_size > limit and not head:
            raise NotReadable(f"{info.st_size} bytes, more than the {limit} expected")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                if head:
                    chunks.append(chunk)
                    break
                raise NotReadable(f"more than the {limit} bytes expected")
            chunks.append(chunk)
        data = b"".join(chunks)
        return (data[:limit] if head else data), info
    except OSError as err:
        raise NotReadable(err.strerror or str(err)) from err
    finally:
        os.close(fd)
