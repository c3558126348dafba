"""HTTP/1.1 framing, and what a hostile or broken server sends: every case a bounded, named error.

Each server is a real TLS server on loopback running a script per connection. The total-time
cap is tested with an injected clock, so nothing here waits for it on the wall clock.
"""

from __future__ import annotations

import itertools
import socket

import pytest

from rasign import transport
from rasign.network_errors import cause
from rasign.transport import HttpsClient
from tests.transport.servers import ScriptedServer, read_request, server_context

pytestmark = pytest.mark.network


@pytest.fixture
def serve(tls_files):
    """``serve(raw_bytes_or_script)`` -> a TLS server sending those bytes after reading the request."""
    servers: list[ScriptedServer] = []

    def start(reply: bytes | object, *, hold: bool = False) -> ScriptedServer:
        def script(conn: socket.socket) -> None:
            read_request(conn)
            if callable(reply):
                reply(conn)
                return
            conn.sendall(reply)  # type: ignore[arg-type]
            if hold:  # keep the connection open, sending nothing more, until the test ends
                server.release.wait(30)

        server = ScriptedServer(script, server_context(tls_files.certificate, tls_files.private_key))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _get(server: ScriptedServer, tls_files, **kwargs) -> transport.Answer:
    with HttpsClient(verify=tls_files.ca_bundle, connect_timeout=5, read_timeout=5, **kwargs) as client:
        return client.request("POST", server.url, headers={"X-Test": "1"}, body=b"{}")


def test_content_length_body(serve, tls_files):
    got = _get(serve(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello"), tls_files)
    assert (got.status, got.body, got.headers["X-A"], got.headers.get("x-A")) == (201, b"hello", "1, 2", "1, 2")


def test_chunked_body_with_extensions_and_trailers(serve, tls_files):
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nT: x\r\n\r\n"
    assert _get(serve(raw), tls_files).body == b"hello world"


def test_body_until_close_and_interim_answers(serve, tls_files):
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"
    assert _get(serve(raw), tls_files).body == b"all of it"


def test_a_redirect_is_returned_not_followed(serve, tls_files):
    server = serve(b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/\r\nContent-Length: 0\r\n\r\n")
    got = _get(server, tls_files)
    assert got.status == 302 and server.accepted == 1


def test_what_the_request_looks_like_on_the_wire(tls_files):
    seen: list[bytes] = []

    def script(conn: socket.socket) -> None:
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    server = ScriptedServer(script, server_context(tls_files.certificate, tls_files.private_key))
    try:
        _get(server, tls_files)
    finally:
        server.close()
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /path?q=1 HTTP/1.1" and body == b"{}"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines and b"Content-Length: 2" in lines
    assert b"X-Test: 1" in lines


@pytest.mark.parametrize(
    "raw, error, words",
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", transport.BadAnswer, "not valid HTTP: the status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", transport.BadAnswer, "the status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\nhello", transport.BadAnswer, "Content-Length is not"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", transport.BadAnswer, "conflicting"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", transport.BadAnswer, "Content-Length is not"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", transport.BadAnswer, "malformed"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", transport.BadAnswer, "longer than"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", transport.BadAnswer, "more than 100 header"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", transport.BadAnswer, "not hexadecimal"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", transport.BadAnswer, "longer than its"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", transport.BrokeOff, "broke off"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc", transport.BrokeOff, "broke off"),
        (b"HTTP/1.1 200 OK\r\nContent-", transport.BrokeOff, "broke off"),
        (b"", transport.NoAnswer, "closed the connection without answering"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n", transport.AnswerTooLarge, ""),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"ffff\r\n"
            + b"x" * 65535
            + b"\r\n"
            + b"ffff\r\n",
            transport.AnswerTooLarge,
            "",
        ),
    ],
    ids=[
        "not-http",
        "status-not-3-digits",
        "length-not-a-number",
        "lengths-conflict",
        "length-negative",
        "header-without-colon",
        "endless-header-line",
        "too-many-headers",
        "chunk-size-not-hex",
        "chunk-longer-than-size",
        "closed-mid-body",
        "closed-mid-chunk",
        "closed-mid-headers",
        "closed-without-answer",
        "announced-too-large",
        "chunked-too-large",
    ],
)
def test_hostile_answers(serve, tls_files, raw, error, words):
    with pytest.raises(error) as caught:
        _get(serve(raw), tls_files, limit=100000)
    assert words in cause(caught.value, connect_timeout=5, read_timeout=5)


def test_a_body_read_to_close_is_capped_too(serve, tls_files):
    with pytest.raises(transport.AnswerTooLarge):
        _get(serve(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 200000), tls_files, limit=100000)


def test_slowloris_headers_hit_the_total_cap_on_an_injected_clock(serve, tls_files):
    """The head arrives in part, then nothing more: each clock reading is 10 s later, the cap is 5 s."""
    ticks = itertools.count(step=10.0)
    server = serve(b"HTTP/1.1 200 OK\r\nX-Slow: 1\r\n", hold=True)
    with pytest.raises(transport.AnswerTooSlow):
        _get(server, tls_files, monotonic=lambda: next(ticks))


def test_a_silent_server_hits_the_read_timeout(serve, tls_files):
    server = serve(b"", hold=True)
    with (
        HttpsClient(verify=tls_files.ca_bundle, read_timeout=0.2) as client,
        pytest.raises(transport.Timeout) as caught,
    ):
        client.request("GET", server.url)
    assert not caught.value.connecting
    assert cause(caught.value, connect_timeout=1, read_timeout=0.2) == "timed out after 0.2 s waiting for the answer"


def test_a_server_that_is_not_tls(tls_files):
    def script(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\nthis is plain http")

    server = ScriptedServer(script)  # no TLS context: plain TCP
    try:
        url = server.url.replace("http://", "https://")
        with pytest.raises(transport.TlsFailed) as caught:
            HttpsClient(verify=tls_files.ca_bundle).request("GET", url)
    finally:
        server.close()
    assert cause(caught.value, connect_timeout=1, read_timeout=1).startswith("TLS handshake failed")


def test_connection_refused(tls_files):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(transport.ConnectFailed) as caught:
        HttpsClient().request("GET", f"https://127.0.0.1:{port}/")
    assert cause(caught.value, connect_timeout=1, read_timeout=1) == "connection refused"


def test_plain_http_endpoints_work_too():
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = ScriptedServer(script)
    try:
        assert HttpsClient().request("GET", server.url).body == b"ok"
    finally:
        server.close()


def test_a_listener_that_never_accepts_hits_the_connect_timeout():
    """A full accept queue (backlog 0, never accepted) drops the SYN: the connect timeout fires."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(filler)
        with pytest.raises(transport.Timeout) as caught:
            HttpsClient(connect_timeout=0.3).request("GET", f"https://127.0.0.1:{port}/")
    finally:
        for sock in [*fillers, listener]:
            sock.close()
    assert caught.value.connecting
    assert cause(caught.value, connect_timeout=0.3, read_timeout=5) == "timed out after 0.3 s while connecting"
