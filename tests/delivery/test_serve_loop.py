"""The serve event loop in-process: timeouts driven by an injected clock, the connection cap.

The loop, the router, the token signer and the listeners are the real ones; only time is
moved by hand (``clock``) and the loop is turned by the test (``poll``), so no test sleeps.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from types import SimpleNamespace

import pytest

from rasign.serve.handler import Router, ServeContext
from rasign.serve.http11 import HttpError, parse_request
from rasign.serve.listeners import ListenSpec, open_tcp
from rasign.serve.loop import EventLoopServer
from rasign.serve.tokens import TokenSigner
from rasign.serve.view import CredentialView


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _view() -> CredentialView:
    view = CredentialView("arn:aws:iam::123456789012:role/loop")
    view.update(
        SimpleNamespace(
            access_key_id="ASIALOOP",
            secret_access_key="s" * 40,
            session_token="t" * 100,
            expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1),
        )
    )
    return view


@pytest.fixture
def loop():
    clock = Clock()
    context = ServeContext(role_name="loop", view=_view(), tokens=TokenSigner(clock=clock), status=dict)
    listeners = open_tcp([ListenSpec("127.0.0.1", 0)], hop_limit=64)
    server = EventLoopServer(
        listeners, Router(context), max_connections=50, idle_timeout=60, header_timeout=10, linger=2, clock=clock
    )
    server.clock_ = clock
    server.port = listeners[0].port
    yield server
    server.close()


def _pump(server: EventLoopServer, predicate, turns: int = 200) -> None:
    """Turn the loop until ``predicate()`` holds (bounded; select waits at most 10 ms a turn)."""
    for _ in range(turns):
        server.poll(0.01)
        if predicate():
            return
    raise AssertionError("the loop never reached the expected state")


def _connect(server: EventLoopServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.setblocking(False)
    return sock


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def _received(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except BlockingIOError:
        return b""


def _request(server: EventLoopServer, sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    box = bytearray()
    _pump(server, lambda: box.extend(_received(sock)) or b"\r\n\r\n" in box)
    return bytes(box)


HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"


def test_idle_keep_alive_connection_closes_after_the_idle_timeout(loop):
    sock = _connect(loop)
    assert _request(loop, sock, HEALTH % loop.port).startswith(b"HTTP/1.1 200")
    loop.clock_.now += 59
    loop.poll(0)
    assert loop.connection_count == 1 and not _closed_by_peer(sock)
    loop.clock_.now += 1.5
    _pump(loop, lambda: loop.connection_count == 0)
    assert _closed_by_peer(sock)
    sock.close()


def test_a_request_resets_the_idle_timer(loop):
    sock = _connect(loop)
    for _ in range(3):
        loop.clock_.now += 50
        assert _request(loop, sock, HEALTH % loop.port).startswith(b"HTTP/1.1 200")
    assert loop.connection_count == 1
    sock.close()


def test_slow_request_head_gets_408_after_the_header_timeout(loop):
    sock = _connect(loop)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1")
    _pump(loop, lambda: any(conn.inbuf for conn in loop._connections.values()))  # first byte read at t=0
    for _ in range(4):  # dripping bytes does not extend the deadline (slowloris)
        loop.clock_.now += 2.4
        sock.sendall(b"1")
        loop.poll(0.01)
    assert loop.connection_count == 1
    loop.clock_.now += 1.5  # 11.1 s after the first byte
    box = bytearray()
    _pump(loop, lambda: box.extend(_received(sock)) or b"\r\n\r\n" in box)
    assert box.startswith(b"HTTP/1.1 408") and b"Connection: close" in box
    loop.clock_.now += 3  # linger over
    _pump(loop, lambda: loop.connection_count == 0)
    sock.close()


def test_never_used_connection_is_closed_after_the_idle_timeout(loop):
    socks = [_connect(loop) for _ in range(10)]
    _pump(loop, lambda: loop.connection_count == 10)
    loop.clock_.now += 61
    _pump(loop, lambda: loop.connection_count == 0)
    assert all(_closed_by_peer(sock) for sock in socks)
    for sock in socks:
        sock.close()


def test_connection_cap_closes_the_quietest_and_still_serves_the_newcomer(loop):
    flood = []
    for _ in range(50):
        flood.append(_connect(loop))
        loop.clock_.now += 0.01
        loop.poll(0.01)
    _pump(loop, lambda: loop.connection_count == 50)
    client = _connect(loop)
    response = _request(loop, client, HEALTH % loop.port)
    assert response.startswith(b"HTTP/1.1 200")
    assert loop.connection_count == 50 and loop.evicted >= 1
    assert _closed_by_peer(flood[0])  # the oldest idle one made room
    for sock in flood + [client]:
        sock.close()


def test_bad_request_is_answered_then_lingers_until_the_peer_closes(loop):
    sock = _connect(loop)
    response = _request(
        loop,
        sock,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 1\r\n"
        b"Content-Length: 2\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n" % loop.port,
    )
    assert response.startswith(b"HTTP/1.1 400") and response.count(b"HTTP/1.1") == 1
    sock.sendall(b"more bytes that are never parsed\r\n\r\n")
    loop.poll(0.01)
    assert _received(sock) in (b"",)  # nothing else was answered; write side is shut
    sock.close()
    _pump(loop, lambda: loop.connection_count == 0)


def test_stop_ends_serve_forever_from_another_thread(loop):
    import threading

    thread = threading.Thread(target=loop.serve_forever)
    started = time.monotonic()
    thread.start()
    loop.stop()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 5


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\n",  # incomplete: needs more bytes
        b"GET / HTTP/1.1\r\nHost: a\r",
        b"",
    ],
)
def test_parser_waits_for_an_incomplete_head(head):
    assert parse_request(head) is None


@pytest.mark.parametrize(
    "data,status",
    [
        (b"GET / HTTP/1.1\nHost: a\n\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\rX: b", 400),
        (b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 9000, 431),
        (b"GET / HTTP/1.1\r\n" + b"X: a\r\n" * 70 + b"\r\n", 431),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_parser_refuses_early_and_exactly(data, status):
    with pytest.raises(HttpError) as caught:
        parse_request(data)
    assert caught.value.status == status


def test_parser_reads_a_body_framed_by_content_length():
    data = b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET"
    request, used = parse_request(data)
    assert request.body == b"abc" and data[used:] == b"GET"
    assert parse_request(data[:-4]) is None  # body not complete yet


def test_a_client_that_never_reads_cannot_grow_the_server_buffers(loop):
    sock = socket.create_connection(("127.0.0.1", loop.port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    request = HEALTH % loop.port
    sent = 0
    for _ in range(400):  # push pipelined requests until both kernels' buffers are full
        try:
            sent += sock.send(request * 64)
        except BlockingIOError:
            pass
        loop.poll(0.001)
    assert sent > 1 << 20  # well over a megabyte of requests went out...
    conn = next(iter(loop._connections.values()))
    assert len(conn.inbuf) <= 32768 and len(conn.outbuf) <= 32768  # ...but the server holds only a little
    sock.close()


def test_host_names_each_listener_accepts():
    from rasign.serve.listeners import allowed_hosts_for

    loopback = allowed_hosts_for(ListenSpec("::1", 9911), 9911, ["[fe80::1]", "box", "box2:81"])
    assert loopback == {"127.0.0.1:9911", "[::1]:9911", "localhost:9911", "[fe80::1]:9911", "box:9911", "box2:81"}
    wildcard = allowed_hosts_for(ListenSpec("0.0.0.0", 80), 80)
    assert "0.0.0.0:80" not in wildcard and {"localhost", "localhost:80", "127.0.0.1"} <= wildcard
