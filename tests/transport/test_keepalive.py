"""One SessionClient reuses its connection, replaces one the server closed, and never resends by itself."""

from __future__ import annotations

import socket

import pytest

from rasign.errors import NetworkError
from rasign.session import SessionClient, plan_session
from rasign.transport import HttpsClient, NoAnswer
from tests.transport.conftest import session_options
from tests.transport.servers import ScriptedServer, answer, read_request, server_context

pytestmark = pytest.mark.network


@pytest.fixture
def private_emulator(pki):
    from rasign.emulator import Emulator

    with Emulator([pki.root_pem], region="us-east-1") as emu:
        yield emu


def test_two_create_session_calls_share_one_connection(private_emulator, signer):
    client = SessionClient(signer, plan_session(session_options(private_emulator)))
    try:
        first, second = client.create_session(), client.create_session()
    finally:
        client.close()
    assert first.access_key_id != second.access_key_id
    assert private_emulator.create_session_count == 2 and private_emulator.connections_accepted == 1


def test_a_connection_the_server_closed_while_idle_is_replaced(private_emulator, signer):
    """go_down + come_back closes every open connection; with --max-attempts 1 the next call still works."""
    client = SessionClient(signer, plan_session(session_options(private_emulator, max_attempts=1)))
    try:
        client.create_session()
        private_emulator.go_down()
        private_emulator.come_back()
        assert client.create_session().access_key_id
    finally:
        client.close()
    assert private_emulator.create_session_count == 2 and private_emulator.connections_accepted == 2


def test_connection_close_is_honoured(tls_files):
    def script(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(answer(headers={"Connection": "close"}))

    server = ScriptedServer(script, server_context(tls_files.certificate, tls_files.private_key))
    try:
        with HttpsClient(verify=tls_files.ca_bundle) as client:
            assert [client.request("GET", server.url).status for _ in range(3)] == [200, 200, 200]
            assert client.connections_opened == 3
    finally:
        server.close()
    assert server.accepted == 3


def test_a_request_that_may_have_reached_the_server_is_not_sent_again(tls_files):
    """The server answers once, then on the same connection reads the next request and hangs up.

    The client may not resend it on a new connection (it could be processed twice): it
    reports the failure, and only the caller's retry loop, which signs anew, tries again.
    """
    requests: list[bytes] = []

    def script(conn: socket.socket) -> None:
        requests.append(read_request(conn))
        conn.sendall(answer())
        requests.append(read_request(conn))  # ...and close without answering

    server = ScriptedServer(script, server_context(tls_files.certificate, tls_files.private_key))
    try:
        with HttpsClient(verify=tls_files.ca_bundle) as client:
            assert client.request("POST", server.url, body=b"1").status == 200
            with pytest.raises(NoAnswer):
                client.request("POST", server.url, body=b"2")
    finally:
        server.close()
    assert server.accepted == 1 and len(requests) == 2


def test_the_retry_loop_signs_a_new_request_after_a_dropped_one(private_emulator, signer):
    client = SessionClient(
        signer, plan_session(session_options(private_emulator, max_attempts=2)), sleep=lambda _: None
    )
    try:
        client.create_session()
        private_emulator.drop_next(1)
        assert client.create_session().access_key_id
    finally:
        client.close()
    attempts = [
        entry["headers"]["Amz-Sdk-Request"] for entry in private_emulator.requests if entry["path"] == "/sessions"
    ]
    assert attempts[-2:] == ["attempt=1; max=2", "attempt=2; max=2"]  # a new, freshly signed attempt


def test_dropped_with_one_attempt_is_a_clean_network_error(private_emulator, signer):
    client = SessionClient(signer, plan_session(session_options(private_emulator, max_attempts=1)))
    private_emulator.drop_next(1)
    try:
        with pytest.raises(NetworkError) as caught:
            client.create_session()
    finally:
        client.close()
    line = caught.value.one_line()
    assert line.startswith("request send failed, POST https://127.0.0.1:") and "profileArn" not in line
    assert "closed the connection" in line or "reset" in line


@pytest.mark.parametrize(
    "status_line, connection, opened",
    [
        ("HTTP/1.1 200 OK", "", 1),
        ("HTTP/1.1 200 OK", "Connection: Close\r\n", 3),
        ("HTTP/1.0 200 OK", "", 3),
        ("HTTP/1.0 200 OK", "Connection: keep-alive\r\n", 1),
    ],
)
def test_which_answers_keep_the_connection(tls_files, status_line, connection, opened):
    def script(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(f"{status_line}\r\n{connection}Content-Length: 2\r\n\r\nok".encode())

    server = ScriptedServer(script, server_context(tls_files.certificate, tls_files.private_key))
    try:
        with HttpsClient(verify=tls_files.ca_bundle) as client:
            assert [client.request("GET", server.url).body for _ in range(3)] == [b"ok"] * 3
            assert client.connections_opened == opened
    finally:
        server.close()
