"""systemd readiness (``Type=notify``) without depending on python-systemd.

``sd_notify`` is one datagram to ``$NOTIFY_SOCKET``; doing it by hand keeps the
dependency list short. Outside systemd (no variable) every call is a no-op.
"""

from __future__ import annotations

import os
import socket


def sd_notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to systemd; True when a socket was there."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
        except OSError:
            return False
    return True
