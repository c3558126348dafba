"""Serve a card to pcscd through vsmartcard's ``vpcd`` reader driver, over loopback TCP.

vpcd (libifdvpcd.so) speaks a tiny framing: every message is a 2-byte big-endian length
followed by the bytes. A 1-byte message is a control code (0 power off, 1 power on, 2 reset,
4 "send your ATR"); only the ATR request is answered. Anything longer is a command APDU and
is answered with the response APDU.

vpcd listens (``DEVICENAME /dev/null:PORT``) and the card connects to it. Its listener binds
INADDR_ANY, so pcscd runs in a private network namespace whose only interface is its own
loopback (see pcscd.py); the card's thread joins that namespace (setns applies to the calling
thread only) and connects to 127.0.0.1 there. vpcd's client mode is not used: Debian 12's
vpcd 0.8 crashes pcscd (FD_SET of -1) the first time such a connection drops.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading
import time
from typing import Protocol

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
VPCD_PORT = 35963
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


class Card(Protocol):
    """What the link needs from a card."""

    atr: bytes

    def power(self, on: bool) -> None: ...

    def transmit(self, apdu: bytes) -> bytes: ...


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        # vpcd 0.8 writes the length and the APDU in two send() calls; without an immediate ACK
        # Nagle holds the second one back for the 40 ms delayed-ACK timer, on every APDU.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def join_network_namespace(path: str) -> None:
    """Move the calling thread into the network namespace at ``path`` and bring its loopback up."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into pcscd's network namespace failed")
    finally:
        os.close(fd)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH", fcntl.ioctl(probe, SIOCGIFFLAGS, request)[:18])[1]
        if not flags & IFF_UP:
            fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


class VpcdLink:
    """Keeps ``card`` connected to vpcd's listener at 127.0.0.1:``port`` inside ``netns``."""

    def __init__(self, card: Card, netns: str, port: int = VPCD_PORT, poll: float = 0.05) -> None:
        self.card = card
        self.netns = netns
        self.port = port
        self.poll = poll
        self.connections = 0
        self.power_ons = 0
        self._stop = threading.Event()
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="virtualpiv-vpcd", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> VpcdLink:
        self._thread.start()
        return self

    def wait_inserted(self, timeout: float = 10.0) -> None:
        """Until pcscd has seen the card and powered it (clients find it from then on)."""
        deadline = time.monotonic() + timeout
        while self.power_ons == 0 and time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError(f"the virtual card could not reach vpcd: {self._error}")
            time.sleep(self.poll)
        if self.power_ons == 0:
            raise RuntimeError("pcscd did not power the virtual card in time")

    def stop(self) -> None:
        self._stop.set()
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            join_network_namespace(self.netns)
        except BaseException as error:  # reported by wait_connected
            self._error = error
            return
        while not self._stop.is_set():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.connect(("127.0.0.1", self.port))
            except OSError:
                sock.close()
                self._stop.wait(self.poll)  # vpcd not listening yet (pcscd still starting)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socket = sock
            self.connections += 1
            try:
                self._session(sock)
            except OSError:
                pass
            finally:
                self._socket = None
                sock.close()

    def _session(self, conn: socket.socket) -> None:
        """One vpcd connection; if vpcd drops it, _run reconnects."""
        while not self._stop.is_set():
            header = _recv_exact(conn, 2)
            if header is None:
                return
            (size,) = struct.unpack(">H", header)
            message = _recv_exact(conn, size) if size else b""
            if message is None:
                return
            reply = self._handle(message)
            if reply is not None:
                conn.sendall(struct.pack(">H", len(reply)) + reply)

    def _handle(self, message: bytes) -> bytes | None:
        if len(message) == 1:
            code = message[0]
            if code == CTRL_ATR:
                return self.card.atr
            if code in (CTRL_ON, CTRL_RESET):
                self.power_ons += code == CTRL_ON
                self.card.power(True)
            elif code == CTRL_OFF:
                self.card.power(False)
            return None
        return self.card.transmit(message)
