"""Rebuilding the canonical request from received bytes (unit level, no server)."""

from __future__ import annotations

from rasign import sigv4x509
from rasign.emulator.received import ReceivedRequest, canonical_request_as_received

HEADERS = (
    ("Host", "127.0.0.1:8443"),
    ("User-Agent", "some-client/1.0   (linux)"),
    ("X-Amz-Date", "20260101T000000Z"),
    ("X-Custom", " a  b "),
    ("X-Custom", "c"),
)


def received(**changes):
    fields = {"method": "POST", "path": "/sessions", "query": "b=2&a=1&a=0", "headers": HEADERS, "body": b"{}"}
    fields.update(changes)
    return ReceivedRequest(**fields)


def test_same_as_the_core_for_ordinary_headers():
    signed = ("host", "x-amz-date", "x-custom")
    expected = sigv4x509.canonical_request(
        sigv4x509.CanonicalInput(
            method="POST",
            path="/sessions",
            query=[("b", "2"), ("a", "1"), ("a", "0")],
            headers=[h for h in HEADERS if h[0].lower() in signed],
            body=b"{}",
        )
    )
    assert canonical_request_as_received(received(), signed) == expected
    assert "\nx-custom:a b,c\n" in expected
    assert "\na=0&a=1&b=2\n" in expected


def test_a_signed_user_agent_is_honoured():
    canonical = canonical_request_as_received(received(), ("host", "user-agent", "x-amz-date"))
    lines = canonical.split("\n")
    assert "user-agent:some-client/1.0 (linux)" in lines
    assert lines[-2] == "host;user-agent;x-amz-date"
    assert lines[-1] == sigv4x509.payload_hash(b"{}")


def test_unsigned_payload_marker_replaces_the_body_hash():
    canonical = canonical_request_as_received(received(), ("host", "x-amz-date"), "UNSIGNED-PAYLOAD")
    assert canonical.endswith("\nhost;x-amz-date\nUNSIGNED-PAYLOAD")


def test_header_lookup_is_case_insensitive_and_joins_repeats():
    request = received()
    assert request.header("x-custom") == " a  b ,c"
    assert request.header("HOST") == "127.0.0.1:8443"
    assert request.header("absent") is None
    assert request.query_pairs() == [("b", "2"), ("a", "1"), ("a", "0")]
