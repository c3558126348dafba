"""Fault injection that other areas' resilience tests (serve, update, retries) rely on."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from tests.support.emulator_client import prepare_create_session, send

pytestmark = pytest.mark.network


def call(emu, identity, timeout=10.0):
    cert, key = identity
    return send(prepare_create_session(emu, cert, key), emu.ca_bundle, timeout=timeout)


def test_fail_next_answers_5xx_then_recovers(fresh_emu, p256_identity):
    fresh_emu.fail_next(2)
    fresh_emu.fail_next(1, status=500)
    first, second, third = (call(fresh_emu, p256_identity) for _ in range(3))
    assert (first.status_code, first.headers["x-amzn-ErrorType"]) == (503, "ServiceUnavailableException")
    assert second.status_code == 503
    assert (third.status_code, third.headers["x-amzn-ErrorType"]) == (500, "InternalServerException")
    assert call(fresh_emu, p256_identity).status_code == 201
    assert fresh_emu.create_session_count == 4
    assert [r["status"] for r in fresh_emu.requests] == [503, 503, 500, 201]
    assert len(fresh_emu.issued) == 1


@pytest.mark.parametrize("status", [429, 400])
def test_throttle_next(fresh_emu, p256_identity, status):
    fresh_emu.throttle_next(1, status=status)
    response = call(fresh_emu, p256_identity)
    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"] == "ThrottlingException"
    assert response.json() == {"message": "Rate exceeded"}
    assert call(fresh_emu, p256_identity).status_code == 201


def test_faults_do_not_touch_sts(fresh_emu, p256_identity):
    fresh_emu.fail_next(1)
    response = requests.post(
        fresh_emu.sts_endpoint,
        data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        verify=fresh_emu.ca_bundle,
        timeout=10,
    )
    assert response.status_code == 403  # unauthenticated, not the injected 503
    assert b"MissingAuthenticationToken" in response.content
    assert call(fresh_emu, p256_identity).status_code == 503


def test_delay(fresh_emu, p256_identity):
    fresh_emu.set_delay(0.6)
    started = time.monotonic()
    assert call(fresh_emu, p256_identity).status_code == 201
    assert time.monotonic() - started >= 0.6
    with pytest.raises(requests.exceptions.Timeout):
        call(fresh_emu, p256_identity, timeout=0.2)
    fresh_emu.set_delay(0)
    started = time.monotonic()
    assert call(fresh_emu, p256_identity).status_code == 201
    assert time.monotonic() - started < 0.5


def test_drop_next_closes_without_answer(fresh_emu, p256_identity):
    fresh_emu.drop_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        call(fresh_emu, p256_identity)
    assert fresh_emu.requests[-1]["error_code"] == "ConnectionDropped"
    assert call(fresh_emu, p256_identity).status_code == 201


def test_go_down_and_come_back_on_the_same_port(fresh_emu, p256_identity):
    port, endpoint = fresh_emu.port, fresh_emu.endpoint
    session = requests.Session()  # keep-alive connection, must be cut too
    cert, key = p256_identity
    prepared = prepare_create_session(fresh_emu, cert, key)
    assert (
        session.post(
            prepared.url, data=prepared.body, headers=dict(prepared.headers), verify=fresh_emu.ca_bundle, timeout=5
        ).status_code
        == 201
    )
    fresh_emu.go_down()
    assert not fresh_emu.is_up
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(requests.exceptions.ConnectionError):
        call(fresh_emu, p256_identity, timeout=3)
    count = fresh_emu.create_session_count
    fresh_emu.come_back()
    assert fresh_emu.is_up and fresh_emu.port == port and fresh_emu.endpoint == endpoint
    assert call(fresh_emu, p256_identity).status_code == 201
    assert fresh_emu.create_session_count == count + 1


def test_request_log_keeps_authorization(fresh_emu, p256_identity):
    assert fresh_emu.create_session_count == 0 and fresh_emu.requests == []
    call(fresh_emu, p256_identity)
    (entry,) = fresh_emu.requests
    assert entry["path"] == "/sessions" and entry["method"] == "POST" and entry["status"] == 201
    assert entry["headers"]["authorization"] == entry["headers"]["Authorization"]
    assert entry["headers"]["Authorization"].startswith("AWS4-X509-ECDSA-SHA256 Credential=")
    assert "profileArn=" in entry["query"]


def test_clear_faults(fresh_emu, p256_identity):
    fresh_emu.fail_next(3)
    fresh_emu.set_delay(5)
    fresh_emu.clear_faults()
    assert call(fresh_emu, p256_identity, timeout=3).status_code == 201


class _SteppedMonotonic:
    """The emulator's monotonic clock, frozen until a test steps it (its sleeps stay real)."""

    sleep = staticmethod(time.sleep)

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


def test_rate_limit_like_the_account_quota(fresh_emu, p256_identity, monkeypatch):
    from rasign.emulator import server

    clock = _SteppedMonotonic()
    monkeypatch.setattr(server, "time", clock)  # the one-second window, without waiting a second
    fresh_emu.rate_limit = 3
    statuses = [call(fresh_emu, p256_identity).status_code for _ in range(5)]
    assert statuses[:3] == [201, 201, 201]
    assert statuses[3:] == [429, 429]
    assert fresh_emu.requests[-1]["reason"] == "rate limit"
    clock.now += 0.99
    assert call(fresh_emu, p256_identity).status_code == 429  # still inside the window
    clock.now += 0.02
    assert call(fresh_emu, p256_identity).status_code == 201


def test_respond_next_sends_exactly_the_given_bytes(fresh_emu, p256_identity):
    fresh_emu.respond_next(
        1, status=200, body=b"\x00\x1b[31mnot json", headers={"X-Extra": "1"}, content_type="text/plain"
    )
    response = call(fresh_emu, p256_identity)
    assert (response.status_code, response.content) == (200, b"\x00\x1b[31mnot json")
    assert response.headers["Content-Type"] == "text/plain" and response.headers["X-Extra"] == "1"
    assert fresh_emu.requests[-1]["error_code"] == "InjectedResponse"
    assert call(fresh_emu, p256_identity).status_code == 201


def test_stall_next_says_nothing_until_the_client_gives_up(fresh_emu, p256_identity):
    fresh_emu.stall_next(1, seconds=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(fresh_emu, p256_identity, timeout=0.3)
    assert fresh_emu.requests[-1]["error_code"] == "Stalled"


def test_date_header_follows_the_emulator_clock(fresh_emu, p256_identity):
    from email.utils import parsedate_to_datetime

    fresh_emu.advance_clock(-3600)
    response = call(fresh_emu, p256_identity)
    served = parsedate_to_datetime(response.headers["Date"])
    assert abs((fresh_emu.now() - served).total_seconds()) < 5
