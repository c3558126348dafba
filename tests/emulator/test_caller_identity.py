"""rasign's own SigV4 (HMAC) GetCallerIdentity, verified by the emulator's STS for real.

This is what ``rasign demo`` uses on a core-only install, so it must produce signatures the
emulator's independent check (the same one boto3's requests pass) accepts, and must turn
every refusal into a RasignError naming the STS code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rasign.caller_identity import get_caller_identity, host_header, sign_get_caller_identity
from rasign.emulator import Emulator
from rasign.errors import ConfigError, NetworkError, ServiceError


def document(creds: Any, **override: str) -> dict[str, str]:
    doc = {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
    }
    doc.update(override)
    return doc


def test_issued_credentials_pass_the_emulators_signature_check(emu: Emulator, issued_credentials: Any) -> None:
    identity = get_caller_identity(
        document(issued_credentials), endpoint=emu.sts_endpoint, region="us-east-1", verify=str(emu.ca_bundle)
    )
    assert identity.arn == issued_credentials.assumed_role_arn
    assert identity.account == "123456789012" and identity.user_id


def test_wrong_secret_is_a_service_error_with_the_sts_code(emu: Emulator, issued_credentials: Any) -> None:
    wrong = document(issued_credentials, SecretAccessKey="x" * 40)
    with pytest.raises(ServiceError) as caught:
        get_caller_identity(wrong, endpoint=emu.sts_endpoint, region="us-east-1", verify=str(emu.ca_bundle))
    assert caught.value.status == 403 and caught.value.code == "SignatureDoesNotMatch"
    assert "STS refused GetCallerIdentity" in str(caught.value)


def test_a_stale_clock_is_refused_like_sts_does(emu: Emulator, issued_credentials: Any) -> None:
    stale = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    with pytest.raises(ServiceError) as caught:
        get_caller_identity(
            document(issued_credentials),
            endpoint=emu.sts_endpoint,
            region="us-east-1",
            verify=str(emu.ca_bundle),
            now=stale,
        )
    assert caught.value.code == "SignatureDoesNotMatch"


def test_signature_is_deterministic_for_a_pinned_clock() -> None:
    creds = {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "SessionToken": "token"}
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    first = sign_get_caller_identity(creds, endpoint="https://127.0.0.1:8443/sts/", region="us-east-1", now=moment)
    again = sign_get_caller_identity(creds, endpoint="https://127.0.0.1:8443/sts/", region="us-east-1", now=moment)
    assert first == again
    headers = dict(first)
    assert headers["Host"] == "127.0.0.1:8443" and headers["X-Amz-Date"] == "20260102T030405Z"
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20260102/us-east-1/sts/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
    )
    assert "secret" not in headers["Authorization"]


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("https://sts.amazonaws.com/", "sts.amazonaws.com"),
        ("https://sts.amazonaws.com:443/", "sts.amazonaws.com"),
        ("http://127.0.0.1:80/", "127.0.0.1"),
        ("https://[::1]:9443/", "[::1]:9443"),
    ],
)
def test_host_header_drops_only_the_default_port(endpoint: str, host: str) -> None:
    assert host_header(endpoint) == host


def test_a_non_http_endpoint_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        host_header("sts.amazonaws.com")


def test_an_unreachable_endpoint_is_a_network_error(unused_port: int) -> None:
    creds = {"AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T"}
    with pytest.raises(NetworkError) as caught:
        get_caller_identity(creds, endpoint=f"https://127.0.0.1:{unused_port}/sts/", region="us-east-1", timeout=5)
    assert caught.value.exit_code == 9


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
