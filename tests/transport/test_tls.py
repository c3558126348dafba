"""TLS as the transport speaks it: real handshakes with loopback servers using the test PKI."""

from __future__ import annotations

import socket
import ssl

import pytest

from rasign.session import SessionClient, plan_session, tls_verify
from rasign.transport import HttpsClient, TlsFailed
from tests.transport.conftest import session_options
from tests.transport.servers import ScriptedServer, answer, read_request, server_context

pytestmark = pytest.mark.network


def _ok(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(answer(body=b'{"ok": true}'))


@pytest.fixture
def tls_server(tls_files):
    server = ScriptedServer(_ok, server_context(tls_files.certificate, tls_files.private_key))
    yield server
    server.close()


def test_a_request_verified_against_the_ca_bundle(tls_server, tls_files):
    with HttpsClient(verify=tls_files.ca_bundle) as client:
        got = client.request("GET", tls_server.url)
    assert got.status == 200 and got.json() == {"ok": True}


def test_the_system_store_does_not_trust_the_test_ca(tls_server):
    with pytest.raises(TlsFailed, match="certificate verify failed"), HttpsClient() as client:
        client.request("GET", tls_server.url)


def test_the_host_name_is_checked(tls_files):
    """The certificate names 127.0.0.1 and localhost; 127.0.0.2 is loopback too, but not named."""
    server = ScriptedServer(_ok, server_context(tls_files.certificate, tls_files.private_key), host="127.0.0.2")
    try:
        with pytest.raises(TlsFailed, match="certificate verify failed: IP address mismatch"):
            HttpsClient(verify=tls_files.ca_bundle).request("GET", server.url)
    finally:
        server.close()


def test_no_verify_accepts_an_untrusted_server(tls_server):
    with HttpsClient(verify=False) as client:
        assert client.request("GET", tls_server.url).status == 200


def test_sni_names_the_endpoint_host(tls_files):
    seen: list[str | None] = []
    context = server_context(tls_files.certificate, tls_files.private_key)
    context.sni_callback = lambda sock, name, ctx: seen.append(name)
    server = ScriptedServer(_ok, context)
    try:
        url = server.url.replace("127.0.0.1", "localhost")
        assert HttpsClient(verify=tls_files.ca_bundle).request("GET", url).status == 200
    finally:
        server.close()
    assert seen == ["localhost"]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_a_tls_1_1_only_server_is_refused_by_the_client(tls_files):
    context = server_context(
        tls_files.certificate,
        tls_files.private_key,
        minimum_version=ssl.TLSVersion.TLSv1,
        maximum_version=ssl.TLSVersion.TLSv1_1,
    )
    try:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pytest.skip("this OpenSSL cannot serve TLS 1.1 at all")
    server = ScriptedServer(_ok, context)
    try:
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(tls_files.ca_bundle)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        try:
            with old.wrap_socket(
                socket.create_connection(("127.0.0.1", server.port)), server_hostname="127.0.0.1"
            ) as t:
                assert t.version() == "TLSv1.1"  # the server does speak TLS 1.1...
        except ssl.SSLError:
            pytest.skip("this OpenSSL build has TLS 1.1 compiled out")
        with pytest.raises(TlsFailed, match="TLS handshake failed"):  # ...and rasign refuses it
            HttpsClient(verify=tls_files.ca_bundle).request("GET", server.url)
    finally:
        server.close()


def test_ca_bundle_is_used_and_requests_variables_are_not(emulator, signer, monkeypatch, tls_files):
    """--ca-bundle works with no REQUESTS_CA_BUNDLE, and a REQUESTS_CA_BUNDLE naming another CA changes nothing."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files.ca_bundle)
    monkeypatch.setenv("CURL_CA_BUNDLE", tls_files.ca_bundle)
    client = SessionClient(signer, plan_session(session_options(emulator)))
    try:
        assert client.create_session().access_key_id
    finally:
        client.close()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_bundle))
    assert tls_verify(session_options(emulator, ca_bundle=None)) is True  # the system store, not that file


def test_aws_ca_bundle_is_the_fallback(emulator, signer, monkeypatch):
    monkeypatch.setenv("AWS_CA_BUNDLE", str(emulator.ca_bundle))
    client = SessionClient(signer, plan_session(session_options(emulator, ca_bundle=None)))
    try:
        assert client.create_session().access_key_id
    finally:
        client.close()
