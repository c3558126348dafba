"""Fixtures for the attack tests: real ``rasign serve`` processes and raw-socket clients.

The attacks are sent byte for byte over real sockets (no HTTP library normalises them on
the way), to real servers: a ``rasign serve`` process signing with a real key against the
emulator, or, where a test moves a clock, the same event loop and router in-process.
"""

from __future__ import annotations

import itertools
import re
import socket
import time
from pathlib import Path

import pytest

_counter = itertools.count()
_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([0-9]{3}) [A-Za-z -]+\r\nServer: rasign\r\n")


@pytest.fixture
def identity(pki) -> tuple[Path, Path]:
    """A fresh EC key + certificate issued by the session PKI: (cert, key)."""
    return pki.software_identity(stem=f"attack-{next(_counter)}")


@pytest.fixture(scope="module")
def module_identity(pki) -> tuple[Path, Path]:
    return pki.software_identity(stem=f"attack-module-{next(_counter)}")


def exchange(
    port: int, data: bytes, *, host: str = "127.0.0.1", unix: str | None = None, timeout: float = 10.0
) -> tuple[bytes, bool]:
    """Send ``data`` on a new connection, read until the server closes or goes quiet.

    Returns (everything received, whether the server closed the connection).
    """
    if unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address: object = unix
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        address = (host, port)
    sock.settimeout(timeout)
    received = bytearray()
    closed = False
    try:
        sock.connect(address)
        sock.sendall(data)
        deadline = time.monotonic() + timeout
        sock.settimeout(1.0)
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if received:
                    break  # answered and kept open (keep-alive)
                continue
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
    finally:
        sock.close()
    return bytes(received), closed


def statuses(response: bytes) -> list[int]:
    """Status codes of every response in ``response`` (pipelined answers included)."""
    return [int(code) for code in _STATUS_LINE.findall(response)]
