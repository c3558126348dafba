"""What a broken or hostile endpoint sends: one clean line and a stable exit code for each.

A private emulator (so faults never leak into other tests) answers CreateSession with
garbage bodies, non-JSON 200s, JSON with missing or mistyped fields, huge bodies, escape
sequences and NULs in error messages, silence, a dropped connection, a refused port and a
clock off in either direction. ``--max-attempts 1`` keeps retries (and their backoff) out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from rasign.emulator import Emulator
from tests.badinput.cases import DENIED, NETWORK, SERVICE, THROTTLED, case
from tests.badinput.harness import Case, World, check

pytestmark = pytest.mark.network


def _creds(**override: object) -> bytes:
    credentials = {
        "accessKeyId": "ASIAEXAMPLEEXAMPLE01",
        "secretAccessKey": "s" * 40,
        "sessionToken": "t" * 200,
        "expiration": "2099-01-01T00:00:00Z",
    }
    credentials.update(override)
    return json.dumps({"credentialSet": [{"credentials": credentials, "roleArn": None}]}).encode()


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x00\u202eevil"

# (case, fault): fault is (method name, kwargs) on the emulator, applied before the run.
FAULTS: list[tuple[Case, tuple[str, dict]]] = [
    (case("fault-200-not-json", SERVICE, "not JSON", local=False), ("respond_next", {"body": b"<html>hello</html>"})),
    (case("fault-200-binary", SERVICE, "not JSON", local=False), ("respond_next", {"body": bytes(range(256))})),
    (case("fault-200-empty", SERVICE, "not JSON", local=False), ("respond_next", {"body": b""})),
    (case("fault-200-json-list", SERVICE, "expected a JSON object", local=False), ("respond_next", {"body": b"[1,2]"})),
    (
        case("fault-200-no-credential-set", SERVICE, "credentialSet is missing", local=False),
        ("respond_next", {"body": b"{}"}),
    ),
    (
        case("fault-200-credential-set-string", SERVICE, "credentialSet is str", local=False),
        ("respond_next", {"body": b'{"credentialSet": "x"}'}),
    ),
    (
        case("fault-200-credential-set-empty", SERVICE, "credentialSet is empty", local=False),
        ("respond_next", {"body": b'{"credentialSet": []}'}),
    ),
    (
        case("fault-200-entry-not-object", SERVICE, "not an object", local=False),
        ("respond_next", {"body": b'{"credentialSet": [[]]}'}),
    ),
    (
        case("fault-200-no-credentials", SERVICE, "credentials is missing", local=False),
        ("respond_next", {"body": b'{"credentialSet": [{}]}'}),
    ),
    (
        case("fault-200-key-number", SERVICE, "accessKeyId is int", local=False),
        ("respond_next", {"body": _creds(accessKeyId=12345)}),
    ),
    (
        case("fault-200-secret-missing", SERVICE, "secretAccessKey is missing", local=False),
        ("respond_next", {"body": json.dumps({"credentialSet": [{"credentials": {"accessKeyId": "A"}}]}).encode()}),
    ),
    (
        case("fault-200-empty-token", SERVICE, "empty credential fields", local=False),
        ("respond_next", {"body": _creds(sessionToken="")}),
    ),
    (
        case("fault-200-newline-in-secret", SERVICE, "not a printable token", local=False),
        ("respond_next", {"body": _creds(secretAccessKey="abc\n[evil]\nx=1")}),
    ),
    (
        case("fault-200-bad-expiration", SERVICE, "unreadable expiration", local=False),
        ("respond_next", {"body": _creds(expiration="tomorrow")}),
    ),
    (
        case("fault-200-expiration-number", SERVICE, "expiration is int", local=False),
        ("respond_next", {"body": _creds(expiration=5)}),
    ),
    (case("fault-200-bad-utf8", SERVICE, "not JSON", local=False), ("respond_next", {"body": b'{"a": "\xff"}'})),
    (
        case("fault-200-huge", SERVICE, "more than 1024 KiB", local=False),
        ("respond_next", {"body": b'{"pad": "' + b"x" * (2 << 20) + b'"}'}),
    ),
    (
        case("fault-200-nested-deep", SERVICE, "not JSON", local=False),
        ("respond_next", {"body": b"[" * 100000 + b"]" * 100000}),
    ),
    (
        case("fault-400-escapes-in-message", SERVICE, "ValidationException", local=False),
        (
            "respond_next",
            {
                "status": 400,
                "body": json.dumps({"message": ESCAPES}).encode(),
                "headers": {"x-amzn-ErrorType": "ValidationException"},
            },
        ),
    ),
    (
        case("fault-400-huge-message", SERVICE, "more characters", local=False),
        ("respond_next", {"status": 400, "body": json.dumps({"message": "m" * 200000}).encode()}),
    ),
    (
        case("fault-400-html", SERVICE, "StatusCode: 400", local=False),
        ("respond_next", {"status": 400, "body": b"<html>\x1b[31mbad gateway\n</html>", "content_type": "text/html"}),
    ),
    (
        case("fault-400-message-object", SERVICE, "StatusCode: 400", local=False),
        ("respond_next", {"status": 400, "body": b'{"message": {"nested": [1, 2]}}'}),
    ),
    (
        case("fault-403-escape-error-type", DENIED, "AccessDenied", local=False),
        (
            "respond_next",
            {"status": 403, "body": b"{}", "headers": {"x-amzn-ErrorType": "AccessDenied\x1b[2J:http://x"}},
        ),
    ),
    (
        case("fault-404-escape-request-id", SERVICE, "StatusCode: 404", local=False),
        ("respond_next", {"status": 404, "body": b"", "headers": {"x-amzn-RequestId": "\x1b]8;;http://evil\x07id"}}),
    ),
    (
        case("fault-302-redirect", SERVICE, "StatusCode: 302", local=False),
        ("respond_next", {"status": 302, "body": b"", "headers": {"Location": "http://10.0.0.1/"}}),
    ),
    (
        case("fault-503", SERVICE, "ServiceUnavailableException", "--max-attempts", "1", local=False),
        ("fail_next", {"n": 1, "status": 503}),
    ),
    (
        case("fault-429-throttled", THROTTLED, "ThrottlingException", "--max-attempts", "1", local=False),
        ("throttle_next", {"n": 1}),
    ),
    (
        case("fault-dropped-connection", NETWORK, "connection", "--max-attempts", "1", local=False),
        ("drop_next", {"n": 1}),
    ),
    (
        case(
            "fault-trickling-server",
            NETWORK,
            "timed out after 0.5 s reading the answer",
            "--max-attempts",
            "1",
            "--read-timeout",
            "0.5",
            local=False,
        ),
        ("respond_next", {"body": _creds(), "trickle": 0.1}),
    ),
    (
        case(
            "fault-silent-server",
            NETWORK,
            "timed out after 0.3 s",
            "--max-attempts",
            "1",
            "--read-timeout",
            "0.3",
            local=False,
        ),
        ("stall_next", {"n": 1, "seconds": 20}),
    ),
]


@pytest.fixture(scope="module")
def faulty(pki) -> Iterator[Emulator]:
    with Emulator([pki.root_pem], region="us-east-1") as emulator:
        yield emulator


@pytest.fixture
def faulty_world(world: World, faulty: Emulator) -> Iterator[World]:
    paths = dict(
        world.paths,
        ep=faulty.endpoint,
        ca=str(faulty.ca_bundle),
        ta=faulty.trust_anchor_arn,
        pr=faulty.profile_arn,
        ro=faulty.role_arn,
    )
    yield World(root=world.root, paths=paths, secrets=world.secrets, emulator=faulty, watched=world.watched)
    faulty.clear_faults()
    faulty.advance_clock(-faulty.clock_offset)


@pytest.mark.parametrize("bad, fault", [pytest.param(c, f, id=c.id) for c, f in FAULTS])
def test_server_fault(bad, fault, faulty_world, capfd, monkeypatch):
    method, kwargs = fault
    emulator = faulty_world.emulator
    before = emulator.create_session_count
    outcome = check(
        bad,
        faulty_world,
        capfd,
        monkeypatch,
        before_run=lambda: getattr(emulator, method)(**kwargs),
        secrets=["s" * 40, "t" * 200, "pwned\x07"],
    )
    assert emulator.create_session_count == before + 1, "exactly one request: non-retryable or --max-attempts 1"
    assert "[evil]" not in outcome.stderr


@pytest.mark.parametrize("offset, direction", [(-1200, "ahead of"), (1200, "behind")])
def test_clock_skew_hint_names_the_direction(offset, direction, faulty_world, capfd, monkeypatch):
    """The emulator's clock off by 20 min either way: the hint says which way ours is off."""
    faulty_world.emulator.advance_clock(offset)
    bad = case(f"skew-{direction}", DENIED, f" s {direction} the service's", local=False)
    check(bad, faulty_world, capfd, monkeypatch)


def test_connection_refused(faulty_world, capfd, monkeypatch):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bad = case("refused", NETWORK, "connection refused", "--max-attempts", "1", endpoint=f"https://127.0.0.1:{port}")
    outcome = check(bad, faulty_world, capfd, monkeypatch)
    assert "Max retries" not in outcome.stderr and "?" not in outcome.stderr.split("sessions", 1)[1][:1]


def test_tls_verify_failure_is_named(faulty_world, capfd, monkeypatch):
    bad = case(
        "tls-untrusted",
        NETWORK,
        "TLS certificate verify failed",
        "--max-attempts",
        "1",
        ca_bundle="{root_ca}",
        local=False,
    )
    outcome = check(bad, faulty_world, capfd, monkeypatch)
    assert "HTTPSConnectionPool" not in outcome.stderr and "profileArn" not in outcome.stderr


def test_unreachable_proxy_is_named(faulty_world, capfd, monkeypatch):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bad = case(
        "proxy-refused",
        NETWORK,
        "the proxy could not be reached",
        "--max-attempts",
        "1",
        env={"HTTPS_PROXY": f"http://127.0.0.1:{port}"},
    )
    check(bad, faulty_world, capfd, monkeypatch)
