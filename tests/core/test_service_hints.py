"""service_error: each known CreateSession failure gets its fix, and the error class its exit code."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from rasign.errors import AccessDenied, ServiceError, Throttled
from rasign.session import service_error
from rasign.transport import Answer, Headers

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _answer(status: int, code: str, message: str, **headers: str) -> Answer:
    body = json.dumps({"message": message}).encode()
    return Answer(status=status, headers=Headers([("x-amzn-ErrorType", code), *headers.items()]), body=body)


@pytest.mark.parametrize(
    "status, code, message, hint",
    [
        (403, "AccessDeniedException", "Untrusted signing certificate", "does not chain to the trust anchor"),
        (400, "ValidationException", "roleSessionName is not allowed", "acceptRoleSessionName=true"),
        (400, "ValidationException", "Session tags failed", "breaks STS tag rules"),
        (400, "ValidationException", "Instance properties are required", "--instance-property KEY=VALUE"),
        (404, "ResourceNotFoundException", "Profile not found", "enabled in this region"),
        (400, "ValidationException", "durationSeconds too large", "MaxSessionDuration"),
        (403, "AccessDeniedException", "Not authorized to assume role", "trusts rolesanywhere.amazonaws.com"),
        (403, "AccessDeniedException", "Signature expired", "the local clock is behind"),
        (403, "AccessDeniedException", "Signature not yet current", "the local clock is ahead"),
        (403, "AccessDeniedException", "Invalid signature", "may not match the certificate"),
    ],
)
def test_known_failures_carry_their_fix(status, code, message, hint):
    assert hint in (service_error(_answer(status, code, message), NOW).hint() or "")


def test_the_date_header_names_the_size_and_direction_of_the_skew():
    answer = _answer(403, "AccessDeniedException", "Signature expired", Date="Fri, 02 Jan 2026 03:24:05 GMT")
    assert service_error(answer, NOW).hint().startswith("the local clock is 1200 s behind the service's")


def test_an_unknown_failure_has_no_invented_hint_and_the_classes_follow_status():
    assert service_error(_answer(400, "WeirdException", "odd"), NOW).hint() is None
    assert isinstance(service_error(_answer(403, "", "no"), NOW), AccessDenied)
    assert isinstance(service_error(_answer(429, "", "slow down"), NOW), Throttled)
    error = service_error(Answer(status=502, headers=Headers(), body=b"<html>\x1b[2Jbad gateway</html>"), NOW)
    assert type(error) is ServiceError and error.code == "UnknownError" and "\x1b" not in error.message
