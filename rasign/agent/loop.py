"""The agent's socket: one event loop serves every connection, a small pool does the slow work.

Why: the thread-per-connection server spent a thread on every client, even one that sent
nothing, and under 32 concurrent ``credential-process`` calls most of its time went to
starting and switching threads. Nearly every request is a repeat whose answer is already
rendered (:meth:`rasign.agent.server.Agent.repeat_answer`), so one thread can answer them
all without blocking:

* the loop accepts, checks the peer (``SO_PEERCRED``: this uid or root, on every connection),
  reads the request line and, for a repeat, sends the pre-rendered answer and closes. A
  request usually arrives together with its connection, so it is read straight after
  ``accept`` and answered with no selector round trip;
* anything else (minting, signing, a PIN the client must ask for, ``status``/``lock``/
  ``stop``) goes to at most :data:`WORKERS` threads, so a slow mint or a key waiting for a
  touch never holds up the loop; the worker owns that connection until it has answered;
* a request must arrive whole within :data:`READ_TIMEOUT` of the connection (no thread
  waits for it: the loop's sweep closes it), and may be at most
  :data:`rasign.agent.protocol.MAX_LINE` bytes: a longer one gets a one-line error and is
  never buffered further;
* at most :data:`MAX_CONNECTIONS` connections are open (never more than the descriptor
  limit allows); at the cap the longest-waiting connection the loop holds is closed to make
  room, so idle sockets cannot lock out a real client. When every slot is a request in the
  pool, new connections wait in the listen backlog.

The clock is injectable (:class:`rasign.clock.Clock`): tests move a
:class:`rasign.clock.FakeClock` and call :meth:`AgentServer.poll` instead of sleeping.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import queue
import selectors
import socket
import threading
from typing import TYPE_CHECKING, Any

from rasign.agent import protocol
from rasign.agent.server import _error, prepare_socket_dir
from rasign.clock import Clock
from rasign.errors import RasignError, StoreError, UsageError
from rasign.peercred import peer_uid
from rasign.waker import Refusals, StoppableLoop

if TYPE_CHECKING:
    from rasign.agent.server import Agent

log = logging.getLogger("rasign.agent")

MAX_CONNECTIONS = 1024
"""Connections open at once (further capped by the descriptor limit)."""
READ_TIMEOUT = 10.0
"""Seconds a client has, from its connection, to send its whole request line."""
WRITE_TIMEOUT = 30.0
"""Seconds a worker waits for a client that does not read its answer or a notice."""
LINGER = 2.0
"""Seconds the input of a refused connection is drained, so the refusal is read, not reset."""
WORKERS = 8
"""Threads that mint, sign and answer everything that is not a repeat."""
_RECV = 65536
_ACCEPT_BATCH = 64
_SWEEP_EVERY = 0.5
_RESERVED_DESCRIPTORS = 64
"""Left free for what a mint opens (the module, the TLS connection, files)."""

_REFUSAL = protocol.encode(
    {
        "ok": False,
        "error": {"class": "AuthenticationError", "exit_code": 6, "line": "the rasign agent serves only its own user"},
    }
)
_TOO_LARGE = protocol.encode(
    _error(UsageError(f"the request is larger than the agent accepts ({protocol.MAX_LINE} bytes)"))
)
_WAKE = object()
_LISTENER = object()


class _Conn:
    """A connection the loop holds: its partial request or pending answer, and its deadline."""

    __slots__ = ("sock", "fd", "inbuf", "outbuf", "deadline", "events", "drain", "draining")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = b""
        self.outbuf = b""
        self.deadline = deadline
        self.events = 0
        """What the selector watches for it (0: not registered)."""
        self.drain = False
        """After the answer, half-close and discard input until the peer closes (refusals)."""
        self.draining = False


class AgentServer(StoppableLoop):
    """The listening socket and its event loop; :meth:`serve_forever` until :meth:`stop`."""

    LOOP_NAME = "agent event loop"
    POLL_EVERY = _SWEEP_EVERY
    LOGGER = "rasign.agent"

    def __init__(
        self,
        path: str | None,
        agent: Agent,
        *,
        listen_fd: int | None = None,
        allowed_uids: frozenset[int] | None = None,
        clock: Clock | None = None,
        max_connections: int = MAX_CONNECTIONS,
        read_timeout: float = READ_TIMEOUT,
        workers: int = WORKERS,
    ) -> None:
        self.agent = agent
        self.allowed_uids = allowed_uids or frozenset({os.getuid(), 0})
        self._clock = (clock or agent.clock).monotonic
        self.read_timeout = read_timeout
        self.max_connections = max(1, min(max_connections, _descriptor_room()))
        self.workers = max(1, workers)
        self.path: str | None = None
        if listen_fd is not None:
            self.socket = socket.socket(fileno=listen_fd)
        else:
            assert path is not None
            self.socket = _bind(path)
            self.path = path
        self.socket.setblocking(False)
        self._selector = selectors.DefaultSelector()
        super().__init__()
        self._waker.register(self._selector, _WAKE)
        self._selector.register(self.socket, selectors.EVENT_READ, _LISTENER)
        self._accepting = True
        self._conns: collections.OrderedDict[int, _Conn] = collections.OrderedDict()
        """By descriptor, oldest first (the eviction order)."""
        self._busy = 0
        """Requests handed to the pool and not yet answered (they count against the cap)."""
        self._jobs: queue.SimpleQueue[tuple[socket.socket, bytes] | None] = queue.SimpleQueue()
        self._finished: collections.deque[None] = collections.deque()
        self._threads: list[threading.Thread] = []
        self._now = self._clock()
        self._next_sweep = self._now + _SWEEP_EVERY
        self.evicted = 0
        self.refusals = Refusals()

    # -- control

    @property
    def connection_count(self) -> int:
        """Connections the loop holds (waiting for a request or sending an answer)."""
        return len(self._conns)

    @property
    def busy(self) -> int:
        """Requests in the worker pool, as the loop last counted them."""
        return self._busy

    def server_close(self) -> None:
        """Close every connection the loop holds and the listener; remove the socket file."""
        for conn in list(self._conns.values()):
            self._close(conn)
        for _ in self._threads:
            self._jobs.put(None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.close()
        self.socket.close()
        self._waker.close()
        if self.path:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    # -- one turn

    def poll(self, timeout: float | None = 0.0) -> None:
        """Wait up to ``timeout`` seconds for events, handle them, then close what is past its deadline."""
        events = self._selector.select(timeout)
        self._now = self._clock()
        for key, mask in events:
            data = key.data
            if data is _LISTENER:
                self._accept()
            elif data is _WAKE:
                self._reap()
            else:
                conn: _Conn = data
                if self._conns.get(conn.fd) is not conn:
                    continue  # closed by an earlier event of this batch; the fd may be reused
                if mask & selectors.EVENT_WRITE:
                    self._flush(conn)
                else:
                    self._read(conn)
        if self._now >= self._next_sweep:
            self.sweep()

    def sweep(self) -> int:
        """Close the connections past their deadline; return how many."""
        self._now = self._clock()
        self._next_sweep = self._now + _SWEEP_EVERY
        late = [conn for conn in self._conns.values() if self._now >= conn.deadline]
        for conn in late:
            log.debug("closing an agent connection that did not complete its request in time")
            self._close(conn)
        self._resume_accepting()
        return len(late)

    # -- accepting

    def _accept(self) -> None:
        for _ in range(_ACCEPT_BATCH):
            full = len(self._conns) + self._busy >= self.max_connections
            if full and not self._conns:
                self._pause_accepting()  # every slot is a request in the pool: the backlog holds the rest
                return
            try:
                sock, _address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if self._evict_oldest():
                        continue
                    self._pause_accepting()  # else the ready listener would spin the loop; the sweep resumes
                log.debug("agent accept failed: %s", err)
                return
            if full:
                self._evict_oldest()
            self._admit(sock)

    def _admit(self, sock: socket.socket) -> None:
        conn = _Conn(sock, self._now + self.read_timeout)
        self._conns[conn.fd] = conn
        try:
            uid = peer_uid(sock)
        except OSError:
            self._close(conn)
            return
        if uid is not None and uid not in self.allowed_uids:
            self._note_refusal(uid)
            conn.drain = True
            self._reply(conn, _REFUSAL)
            return
        self._read(conn)  # the request usually came with the connection: answer it now

    def _note_refusal(self, uid: int) -> None:
        if self.refusals.note(self._now):
            log.warning("refused a connection from uid %d (%d refused so far)", uid, self.refusals.count)

    def _evict_oldest(self) -> bool:
        for conn in self._conns.values():
            self.evicted += 1
            self._close(conn)
            return True
        return False

    def _pause_accepting(self) -> None:
        if self._accepting:
            self._accepting = False
            self._selector.unregister(self.socket)

    def _resume_accepting(self) -> None:
        if not self._accepting and len(self._conns) + self._busy < self.max_connections:
            self._accepting = True
            self._selector.register(self.socket, selectors.EVENT_READ, _LISTENER)

    # -- reading and answering on the loop

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(_RECV, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            self._watch(conn, selectors.EVENT_READ)
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        if conn.draining:
            return  # discarding what a refused client sent
        if conn.inbuf:
            data = conn.inbuf + data
        end = data.find(b"\n")
        if end < 0 or end >= protocol.MAX_LINE:
            if len(data) > protocol.MAX_LINE or end >= protocol.MAX_LINE:
                log.debug("refused an agent request larger than %d bytes", protocol.MAX_LINE)
                conn.inbuf = b""
                conn.drain = True
                self._reply(conn, _TOO_LARGE)
                return
            conn.inbuf = data
            self._watch(conn, selectors.EVENT_READ)
            return
        line = data if end == len(data) - 1 else data[: end + 1]
        answer = self.agent.repeat_answer(line)
        if answer is not None:
            self._reply(conn, answer)
        else:
            self._hand_off(conn, line)

    def _reply(self, conn: _Conn, data: bytes) -> None:
        conn.outbuf = data
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.outbuf, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        conn.outbuf = conn.outbuf[sent:]
        if conn.outbuf:
            self._watch(conn, selectors.EVENT_WRITE)
        elif conn.drain and not conn.draining:
            self._start_draining(conn)
        else:
            self._close(conn)

    def _start_draining(self, conn: _Conn) -> None:
        """Half-close, then read and discard until the peer closes: it reads the answer, not a reset."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.draining = True
        conn.deadline = min(conn.deadline, self._now + LINGER)
        self._watch(conn, selectors.EVENT_READ)

    def _watch(self, conn: _Conn, events: int) -> None:
        if conn.events == events:
            return
        if conn.events:
            self._selector.modify(conn.sock, events, conn)
        else:
            self._selector.register(conn.sock, events, conn)
        conn.events = events

    def _forget(self, conn: _Conn) -> None:
        """Stop watching ``conn`` without closing it."""
        if self._conns.get(conn.fd) is conn:
            del self._conns[conn.fd]
        if conn.events:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn.sock)
            conn.events = 0

    def _close(self, conn: _Conn) -> None:
        self._forget(conn)
        with contextlib.suppress(OSError):
            conn.sock.close()

    # -- the worker pool

    def _hand_off(self, conn: _Conn, line: bytes) -> None:
        self._forget(conn)
        self._busy += 1
        if self._busy > len(self._threads) and len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name=f"rasign-agent-worker-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()
        self._jobs.put((conn.sock, line))

    def _reap(self) -> None:
        self._waker.drain()
        while self._finished:
            self._finished.popleft()
            self._busy -= 1
        self._resume_accepting()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            sock, line = job
            try:
                _Exchange(sock, self.agent).answer(line)
            except Exception:  # noqa: BLE001 - a bug costs one request, never a worker
                log.exception("agent request failed")
            finally:
                with contextlib.suppress(OSError):
                    sock.close()
                self._finished.append(None)
                self._waker.wake()
            if self.agent.stopping.is_set():
                self.stop()


class _Exchange:
    """One request a worker answers: notices (from the notice timer's thread too), then the answer."""

    def __init__(self, sock: socket.socket, agent: Agent) -> None:
        self.sock = sock
        self.agent = agent
        self._lock = threading.Lock()
        self._done = False
        sock.settimeout(WRITE_TIMEOUT)

    def answer(self, line: bytes) -> None:
        try:
            message = protocol.decode(line)
        except ValueError:
            self._send(_error(UsageError("malformed request")), final=True)
            return
        try:
            answer = self.agent.handle(message, self.notice)
        except RasignError as err:
            answer = _error(err)
        self.agent.remember(line, message, answer)
        answer.pop("_entry", None)
        self._send(answer, final=True)

    def notice(self, line: str) -> None:
        self._send({"notice": line})

    def _send(self, message: dict[str, Any], *, final: bool = False) -> None:
        data = protocol.encode(message)
        with self._lock:
            if self._done:
                return  # a notice that fired after the answer
            self._done = final
            with contextlib.suppress(OSError):
                self.sock.sendall(data)


def _bind(path: str) -> socket.socket:
    """A listening unix socket at ``path``: 0600 from the start, in a checked 0700 directory."""
    prepare_socket_dir(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    except OSError as err:
        sock.close()
        raise StoreError(f"cannot listen on {path}: {err.strerror or err}") from err
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(socket.SOMAXCONN)
    return sock


def _descriptor_room() -> int:
    """How many connections the descriptor limit leaves room for (a lower cap than that fails accept)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not Linux
        return MAX_CONNECTIONS
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, int(soft) - _RESERVED_DESCRIPTORS)
