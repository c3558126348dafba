"""Loopback servers for the transport tests: a scripted TLS server and a test-only CONNECT proxy.

Both are real sockets and real TLS (Python's ssl, certificates from the emulator's test
PKI). The scripted server runs one function per accepted connection, so a test can send any
bytes a hostile server would; the proxy tunnels like a real one, or answers CONNECT with
whatever a test asks for, and records what it was sent.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Script = Callable[[socket.socket], None]


def read_request(conn: socket.socket) -> bytes:
    """Everything up to the end of one request's head and its Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def answer(status: int = 200, body: bytes = b"{}", headers: dict[str, str] | None = None) -> bytes:
    """A well-formed HTTP/1.1 answer."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class ScriptedServer:
    """Accepts connections on 127.0.0.1 and runs ``script(conn)`` for each (TLS when a context is given)."""

    script: Script
    context: ssl.SSLContext | None = None
    accepted: int = 0
    requests: list[bytes] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.context else 'http'}://{self.host}:{self.port}/path?q=1"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            self.script(conn)
        except (OSError, ssl.SSLError) as err:
            self.errors.append(err)
        finally:
            conn.close()

    def close(self) -> None:
        self.release.set()
        self._listener.close()


def server_context(certificate: str, key: str, **versions: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    for name, value in versions.items():
        setattr(context, name, value)
    return context


class ConnectProxy:
    """A CONNECT proxy on 127.0.0.1: ``reply`` None tunnels, else those bytes answer the CONNECT.

    With a ``context`` it is an ``https://`` proxy: clients speak TLS to it, and their TLS
    with the endpoint runs inside. It is a :class:`ScriptedServer` whose script tunnels.
    """

    def __init__(self, reply: bytes | None = None, context: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.context = context
        self.heads: list[bytes] = []
        self._server = ScriptedServer(self._tunnel, context)
        self.port = self._server.port

    @property
    def url(self) -> str:
        return f"{'https' if self.context else 'http'}://127.0.0.1:{self.port}"

    def _tunnel(self, conn: socket.socket) -> None:
        head = read_request(conn)
        self.heads.append(head)
        if self.reply is not None:
            conn.sendall(self.reply)
            return
        target = head.split(b" ", 2)[1].decode()
        host, _, port = target.rpartition(":")
        with socket.create_connection((host.strip("[]"), int(port))) as upstream:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(conn, upstream)

    def close(self) -> None:
        self._server.close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""

    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join(timeout=10)
