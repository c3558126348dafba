"""Who is at the other end of a unix socket: the one reader of ``SO_PEERCRED``. Standard library only.

Three places ask: ``serve``'s unix listeners and the agent check each client, and the agent
client checks the agent before it sends a byte. They share this so the three answers mean the
same: the uid, or None only where the platform has no ``SO_PEERCRED``. A failing
``getsockopt`` raises ``OSError``, and every caller refuses then (it never passes as "unknown").
"""

from __future__ import annotations

import socket
import struct

_UCRED = struct.Struct("3i")
"""``struct ucred``: pid, uid, gid."""


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of ``sock``; None where ``SO_PEERCRED`` does not exist."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    _pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, option, _UCRED.size))
    return int(uid)
