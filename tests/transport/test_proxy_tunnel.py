"""CreateSession through a CONNECT proxy: a real tinyproxy, a test-only proxy for hostile answers and https://."""

from __future__ import annotations

import base64
import logging
import re
import socket
from pathlib import Path

import pytest

from rasign.errors import ConfigError, NetworkError
from rasign.session import SessionClient, plan_session
from tests.conftest import emulator_args, run_rasign
from tests.transport.conftest import PROXY_PASSWORD, PROXY_USER, session_options
from tests.transport.servers import ConnectProxy, server_context

pytestmark = pytest.mark.network


def _mint(emulator, signer, **overrides) -> str:
    client = SessionClient(signer, plan_session(session_options(emulator, **overrides)))
    try:
        return client.create_session().access_key_id
    finally:
        client.close()


def test_create_session_through_tinyproxy(emulator, signer, tinyproxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy.url)
    before = len(tinyproxy.connects())
    assert _mint(emulator, signer)
    assert len(tinyproxy.connects()) == before + 1 and f"127.0.0.1:{emulator.port}" in tinyproxy.connects()[-1]


def test_all_proxy_is_the_fallback(emulator, signer, tinyproxy, monkeypatch):
    monkeypatch.setenv("ALL_PROXY", tinyproxy.url.removeprefix("http://"))  # no scheme: http
    before = len(tinyproxy.connects())
    assert _mint(emulator, signer)
    assert len(tinyproxy.connects()) == before + 1


def test_no_proxy_sends_the_request_direct(emulator, signer, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.0/8")
    assert _mint(emulator, signer)


def test_proxy_credentials_are_sent_and_accepted(emulator, signer, tinyproxy_auth, monkeypatch, caplog):
    monkeypatch.setenv("HTTPS_PROXY", f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{tinyproxy_auth.port}")
    with caplog.at_level(logging.DEBUG, logger="rasign"):
        assert _mint(emulator, signer)
    assert PROXY_PASSWORD not in caplog.text


def test_wrong_proxy_credentials_name_the_status_never_the_password(emulator, pki, tinyproxy_auth, tmp_path):
    cert, key = pki.software_identity("ec", stem="proxied")
    url = f"http://{PROXY_USER}:wrong-{PROXY_PASSWORD}@127.0.0.1:{tinyproxy_auth.port}"
    result = run_rasign(
        "credential-process",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        *emulator_args(emulator),
        "--no-cache",
        "--max-attempts",
        "1",
        "--debug",
        env={"HTTPS_PROXY": url, "NO_PROXY": ""},
    )
    assert result.returncode == 9 and result.stdout == ""
    assert re.search(r"tunnel request with HTTP 40[17] ", result.stderr), result.stderr  # tinyproxy says 401
    last = result.stderr.splitlines()[-1]  # --debug adds the traceback before the one-line error
    assert last.startswith("rasign: error: request send failed") and "HTTPS_PROXY" in last
    assert PROXY_PASSWORD not in result.stderr
    assert base64.b64encode(f"{PROXY_USER}:wrong-{PROXY_PASSWORD}".encode()).decode() not in result.stderr


def test_percent_encoded_credentials_reach_the_proxy_decoded(emulator, signer, monkeypatch):
    proxy = ConnectProxy()
    try:
        monkeypatch.setenv("https_proxy", f"http://us%40er:p%3Ass%2Fw@127.0.0.1:{proxy.port}")
        assert _mint(emulator, signer)
    finally:
        proxy.close()
    (head,) = proxy.heads
    lines = head.decode().split("\r\n")
    assert lines[0] == f"CONNECT 127.0.0.1:{emulator.port} HTTP/1.1"
    expected = base64.b64encode(b"us@er:p:ss/w").decode()
    assert f"Proxy-Authorization: Basic {expected}" in lines


@pytest.mark.parametrize(
    "reply, words",
    [
        (
            b"HTTP/1.1 403 \x1b[31mForbidden for hunter2\x1b[0m\r\n\r\n",
            "tunnel request with HTTP 403 ?[31mForbidden for ***",
        ),
        (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", "tunnel request with HTTP 502 Bad Gateway"),
        (b"", "the proxy closed the connection instead of opening a tunnel"),
        (b"garbage\r\n\r\n", "the proxy's answer to the tunnel request is not HTTP"),
    ],
    ids=["403-with-escapes-and-password", "502", "closed", "garbage"],
)
def test_a_proxy_refusing_the_tunnel_is_one_clean_line(emulator, signer, monkeypatch, reply, words):
    proxy = ConnectProxy(reply=reply)
    monkeypatch.setenv("HTTPS_PROXY", f"http://bob:hunter2@127.0.0.1:{proxy.port}")
    try:
        with pytest.raises(NetworkError) as caught:
            _mint(emulator, signer)
    finally:
        proxy.close()
    line = caught.value.one_line()
    assert words in line, line
    assert "hunter2" not in line and "\x1b" not in line and "bob" not in line
    assert "exempt the endpoint with NO_PROXY" in line


@pytest.fixture
def https_proxy(tls_files):
    proxy = ConnectProxy(context=server_context(tls_files.certificate, tls_files.private_key))
    yield proxy
    proxy.close()


def test_create_session_through_an_https_proxy_tls_inside_tls(
    emulator, signer, https_proxy, tls_files, tmp_path, monkeypatch
):
    """The proxy's certificate and the endpoint's come from two CAs: one bundle holds both."""
    bundle = tmp_path / "both.pem"
    bundle.write_bytes(Path(emulator.ca_bundle).read_bytes() + Path(tls_files.ca_bundle).read_bytes())
    monkeypatch.setenv("HTTPS_PROXY", https_proxy.url)
    client = SessionClient(signer, plan_session(session_options(emulator, ca_bundle=str(bundle))))
    accepted = emulator.connections_accepted
    try:
        assert client.create_session().access_key_id and client.create_session().access_key_id
    finally:
        client.close()
    assert len(https_proxy.heads) == 1 and https_proxy.heads[0].startswith(b"CONNECT 127.0.0.1:")
    assert emulator.connections_accepted == accepted + 1  # one tunnel, kept alive for both calls


def test_an_untrusted_https_proxy_is_named_with_its_fix(emulator, signer, https_proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", https_proxy.url)
    with pytest.raises(NetworkError) as caught:
        _mint(emulator, signer)  # the bundle holds the endpoint's CA, not the proxy's
    line = caught.value.one_line()
    assert "TLS with the proxy failed: certificate verify failed" in line and "proxy's certificate" in line
    assert https_proxy.heads == []  # nothing was sent to an unverified proxy


def test_an_unusable_proxy_url_fails_before_anything_is_signed(emulator, signer, monkeypatch):
    signed: list[bytes] = []
    real_sign = signer.sign
    monkeypatch.setattr(signer, "sign", lambda message, digest: signed.append(message) or real_sign(message, digest))
    monkeypatch.setenv("HTTPS_PROXY", "socks5://user:hunter2@127.0.0.1:1080")
    before = emulator.create_session_count
    with pytest.raises(ConfigError) as caught:
        _mint(emulator, signer)
    assert "socks5" in caught.value.one_line() and "hunter2" not in caught.value.one_line()
    assert signed == [] and emulator.create_session_count == before


def test_doctor_names_the_proxy_without_its_credentials(emulator, tinyproxy_auth, monkeypatch):
    import datetime as dt

    from rasign.doctor import check_endpoint

    monkeypatch.setenv("HTTPS_PROXY", f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{tinyproxy_auth.port}")
    checks = {
        check.name: check for check in check_endpoint(session_options(emulator), dt.datetime.now(dt.timezone.utc))
    }
    assert checks["proxy"].detail == f"requests go through the proxy http://127.0.0.1:{tinyproxy_auth.port}"
    assert checks["tls"].status == "pass" and checks["clock"].status == "pass"  # through the proxy, authenticated
    assert all(PROXY_PASSWORD not in check.detail and PROXY_USER not in check.detail for check in checks.values())
