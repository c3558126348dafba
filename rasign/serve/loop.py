"""One event loop (``selectors``) that serves every listener of ``rasign serve``.

``ThreadingHTTPServer`` spends a thread per connection: 2,000 half-open connections made
2,004 threads, each with its stack, and nothing stopped the next 2,000. Every answer
rasign serves is already in memory (credentials are pre-rendered per refresh and tokens
are checked with one HMAC), so nothing a request does can block and a single thread can
serve all connections:

* at most ``max_connections`` are open; when a new one arrives at the cap, the connection
  that has been quiet longest is closed, so a flood of idle sockets cannot lock out a
  real client, it only shortens the flood's own connections' lives;
* a request head must arrive within ``header_timeout`` of its first byte (slowloris) and
  a keep-alive connection is closed after ``idle_timeout`` without a request;
* after any framing error the answer is sent, the write side is shut and further input is
  discarded until the peer closes (at most ``linger`` seconds), so the error reaches the
  client and no byte after a bad request is ever parsed as a request.

The clock is injectable: tests move time forward and call :meth:`EventLoopServer.poll`
instead of sleeping.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from rasign.serve.http11 import HttpError, Request, parse_request, render
from rasign.serve.listeners import Listener, is_loopback
from rasign.textsafe import clean
from rasign.waker import Refusals, StoppableLoop

log = logging.getLogger("rasign.serve")

MAX_CONNECTIONS = 4096
IDLE_TIMEOUT = 60.0
HEADER_TIMEOUT = 10.0
LINGER = 2.0
_RECV = 16384
_MAX_PENDING_OUTPUT = 16384
"""With ``_RECV`` this bounds a connection's buffers to about 32 KiB however it misbehaves."""
_SWEEP_EVERY = 1.0

Responder = Callable[[Request, "Connection"], tuple[bytes, bool]]
"""Maps a request to (response bytes, close the connection afterwards?)."""


class Connection:
    """One accepted connection and its buffers."""

    __slots__ = (
        "sock",
        "fd",
        "listener",
        "peer",
        "peer_uid",
        "local_authority",
        "loopback",
        "inbuf",
        "outbuf",
        "last_active",
        "head_started",
        "closing",
        "lingering",
        "writing",
        "token_cache",
    )

    def __init__(
        self,
        sock: socket.socket,
        listener: Listener,
        peer: Any,
        now: float,
        peer_uid: int | None = None,
        local_authority: str | None = None,
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.listener = listener
        self.peer = peer
        self.peer_uid = peer_uid
        self.local_authority = local_authority
        self.loopback = is_loopback(peer)
        """Computed once: the router asks on every request."""
        self.token_cache: tuple[str, float] | None = None
        """The router's last verified IMDS token and its expiry, for this connection only."""
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.last_active = now
        self.head_started: float | None = None
        self.closing = False
        self.lingering: float | None = None
        self.writing = False

    def describe(self) -> str:
        if isinstance(self.peer, tuple) and self.peer:
            return clean(self.peer[0], 80)
        return "unix" if self.peer_uid is None else f"unix(uid {self.peer_uid})"


class EventLoopServer(StoppableLoop):
    """Serves ``listeners`` with ``respond`` on one thread until :meth:`stop`."""

    LOOP_NAME = "serve event loop"
    POLL_EVERY = _SWEEP_EVERY
    LOGGER = "rasign.serve"

    def __init__(
        self,
        listeners: list[Listener],
        respond: Responder,
        *,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
        header_timeout: float = HEADER_TIMEOUT,
        linger: float = LINGER,
        clock: Callable[[], float] = time.monotonic,
        error_body: Callable[[HttpError], bytes] | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.listeners = listeners
        self.respond = respond
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.header_timeout = header_timeout
        self.linger = linger
        self.clock = clock
        self._error_body = error_body or (lambda err: (err.message + "\n").encode("utf-8"))
        self._selector = selectors.DefaultSelector()
        self._connections: OrderedDict[int, Connection] = OrderedDict()
        """By fd, least recently active first (the eviction and idle-timeout order)."""
        self._last_sweep = clock()
        super().__init__()
        self._waker.register(self._selector, None)
        for listener in listeners:
            self._selector.register(listener.sock, selectors.EVENT_READ, listener)
        self.evicted = 0
        self.refusals = Refusals()

    # -- control

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def close(self) -> None:
        """Close every connection and listener (unix socket files are removed)."""
        for conn in list(self._connections.values()):
            self._close(conn)
        for listener in self.listeners:
            try:
                self._selector.unregister(listener.sock)
            except (KeyError, ValueError):
                pass
            listener.close()
        self._selector.close()
        self._waker.close()

    # -- one turn of the loop

    def poll(self, timeout: float | None = 0.0) -> None:
        """Wait up to ``timeout`` seconds for events, handle them, then enforce timeouts."""
        for key, mask in self._selector.select(timeout):
            data = key.data
            if data is None:
                self._waker.drain()
            elif isinstance(data, Listener):
                self._accept(data)
            else:
                # An earlier event of this batch may have closed this connection, and a new one
                # may already have its descriptor number: act only on the live object.
                if mask & selectors.EVENT_WRITE and self._live(data):
                    self._flush(data)
                    if not data.outbuf and data.inbuf and not data.closing and self._live(data):
                        self._answer(data)  # pipelined requests held back while output was pending
                if mask & selectors.EVENT_READ and self._live(data):
                    self._read(data)
        now = self.clock()
        if now - self._last_sweep >= _SWEEP_EVERY or now < self._last_sweep:
            self._last_sweep = now
            self.sweep(now)

    def _live(self, conn: Connection) -> bool:
        return self._connections.get(conn.fd) is conn

    def sweep(self, now: float | None = None) -> int:
        """Close connections past their idle, header or linger deadline; returns how many."""
        now = self.clock() if now is None else now
        expired = []
        for conn in self._connections.values():
            if conn.lingering is not None:
                if now - conn.lingering >= self.linger:
                    expired.append(conn)
            elif conn.head_started is not None and now - conn.head_started >= self.header_timeout:
                expired.append(conn)
            elif now - conn.last_active >= self.idle_timeout:
                expired.append(conn)
        for conn in expired:
            if conn.head_started is not None and conn.lingering is None and not conn.outbuf:
                self._fail(conn, HttpError(408, "request head not received in time"))
            else:
                self._close(conn)
        return len(expired)

    # -- accepting

    def _accept(self, listener: Listener) -> None:
        for _ in range(64):
            try:
                sock, peer = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: make room by closing the quietest connection.
                    if not self._evict_one():
                        return
                    continue
                log.debug("accept on %s failed: %s", listener.display(), err)
                return
            self._admit(listener, sock, peer)

    def _admit(self, listener: Listener, sock: socket.socket, peer: Any) -> None:
        sock.setblocking(False)
        allowed, uid = listener.peer_allowed(sock)
        while len(self._connections) >= self.max_connections:
            if not self._evict_one():
                break
        if not allowed:
            if self.refusals.note(self.clock()):
                log.warning(
                    "refused a connection on %s from uid %s (only this user and root may connect;"
                    " see --unix-socket-allow-uid); %d refused so far",
                    listener.display(),
                    uid,
                    self.refusals.count,
                )
            conn = Connection(sock, listener, None, self.clock(), uid)
            self._connections[conn.fd] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)
            # Answered and half-closed like a bad request, so the refusal reaches the client.
            self._fail(conn, HttpError(403, "this unix socket does not accept your uid"))
            return
        try:
            listener.prepare(sock)
            local = None
            if listener.spec.is_wildcard():
                address = sock.getsockname()
                host = address[0].split("%", 1)[0]
                local = (f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}").lower()
        except OSError:
            sock.close()
            return
        conn = Connection(sock, listener, peer, self.clock(), uid, local)
        self._connections[conn.fd] = conn
        self._selector.register(sock, selectors.EVENT_READ, conn)

    def _evict_one(self) -> bool:
        for conn in self._connections.values():
            if not conn.outbuf:
                self.evicted += 1
                self._close(conn)
                return True
        return False

    # -- reading, answering, writing

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        if conn.lingering is not None:
            return  # discarding what follows a bad request
        now = self.clock()
        conn.last_active = now
        self._connections.move_to_end(conn.fd)
        if conn.head_started is None:
            conn.head_started = now
        conn.inbuf += data
        self._answer(conn)

    def _answer(self, conn: Connection) -> None:
        while conn.inbuf and not conn.closing:
            if len(conn.outbuf) >= _MAX_PENDING_OUTPUT:
                self._send_some(conn)
                if conn.outbuf or not self._live(conn):
                    break  # the peer is not reading: wait until it is (no unbounded output buffer)
            try:
                parsed = parse_request(conn.inbuf)
            except HttpError as err:
                self._fail(conn, err)
                return
            if parsed is None:
                break
            request, used = parsed
            del conn.inbuf[:used]
            try:
                response, close = self.respond(request, conn)
            except Exception:  # a bug must cost one connection, never the server
                log.exception("request handler failed")
                response, close = render(500, b"internal error\n", close=True), True
            conn.outbuf += response
            if close or not request.keep_alive:
                conn.closing = True
                conn.inbuf.clear()
        if not conn.inbuf:
            conn.head_started = None
        elif conn.head_started is None:
            conn.head_started = self.clock()
        self._flush(conn)

    def _fail(self, conn: Connection, err: HttpError) -> None:
        log.debug("%s: bad request: %s", conn.describe(), err.message)
        conn.inbuf.clear()
        conn.head_started = None
        conn.closing = True
        conn.outbuf += render(err.status, self._error_body(err), close=True)
        self._flush(conn)

    def _send_some(self, conn: Connection) -> None:
        try:
            sent = conn.sock.send(conn.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        del conn.outbuf[:sent]
        if sent:
            conn.last_active = self.clock()

    def _flush(self, conn: Connection) -> None:
        """Send what the socket takes now, then wait for the right event: write, read or linger."""
        if conn.outbuf:
            self._send_some(conn)
            if not self._live(conn):
                return
        if conn.outbuf:
            if not conn.writing:
                conn.writing = True
                self._selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
            return
        if conn.writing:
            conn.writing = False
            self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
        if conn.closing and conn.lingering is None:
            self._linger(conn)

    def _linger(self, conn: Connection) -> None:
        """Half-close after an answer that ends the connection, so unread input cannot cause an RST."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.lingering = self.clock()

    def _close(self, conn: Connection) -> None:
        if not self._live(conn):
            return
        del self._connections[conn.fd]
        try:
            self._selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        try:
            conn.sock.close()
        except OSError:
            pass


def raise_descriptor_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (never above the hard limit); returns it."""
    try:
        import resource
    except ImportError:  # Windows
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            pass
    return soft if soft != resource.RLIM_INFINITY else wanted
