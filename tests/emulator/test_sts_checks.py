"""The emulator's STS authentication, one refusal at a time, on requests signed by botocore's own SigV4.

No server and no clock: a request is signed, optionally spoiled in one place, and handed to
:func:`rasign.emulator.sts.authenticate` with ``now`` taken from its own ``X-Amz-Date``. Each
check must answer with STS's status and code, in STS's order (the first problem wins).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from rasign.emulator.received import ReceivedRequest, parse_amz_date
from rasign.emulator.state import AccountState, IssuedCredentials
from rasign.emulator.sts import MAX_SKEW, StsError, authenticate

REGION = "eu-west-1"
HOST = "127.0.0.1:8443"
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


@pytest.fixture
def state() -> AccountState:
    accounts = AccountState(region=REGION, account_id="123456789012")
    accounts.remember(
        IssuedCredentials(
            access_key_id="ASIAEMULATORTESTKEY1",
            secret_access_key="s" * 40,
            session_token="t" * 64,
            expiration=dt.datetime(2999, 1, 1, tzinfo=dt.timezone.utc),
            role_arn="arn:aws:iam::123456789012:role/r",
            role_session_name="test",
            assumed_role_arn="arn:aws:sts::123456789012:assumed-role/r/test",
            assumed_role_id="AROATEST:test",
            source_identity="CN=test",
            certificate_serial=1,
            subject="CN=test",
            profile_arn="arn:aws:rolesanywhere:eu-west-1:123456789012:profile/p",
            trust_anchor_arn="arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/t",
        )
    )
    return accounts


def signed(state: AccountState, *, region: str = REGION, service: str = "sts", **headers: str) -> ReceivedRequest:
    """A GetCallerIdentity POST as botocore signs it, with ``headers`` added before signing."""
    issued = state.lookup("ASIAEMULATORTESTKEY1")
    assert issued is not None
    request = AWSRequest(
        method="POST",
        url=f"https://{HOST}/sts/",
        data=BODY,
        headers={"Host": HOST, "Content-Type": FORM, **{k.replace("_", "-"): v for k, v in headers.items()}},
    )
    credentials = Credentials(issued.access_key_id, issued.secret_access_key, issued.session_token)
    SigV4Auth(credentials, service, region).add_auth(request)
    return ReceivedRequest("POST", "/sts/", "", tuple(request.headers.items()), BODY)


def spoiled(request: ReceivedRequest, name: str, value: str | None, *, body: bytes | None = None) -> ReceivedRequest:
    """The same request after signing with header ``name`` replaced (or dropped when ``value`` is None)."""
    headers = [(k, value if k.lower() == name else v) for k, v in request.headers if k.lower() != name or value]
    return ReceivedRequest(
        request.method, request.path, request.query, tuple(headers), request.body if body is None else body
    )


def signing_time(request: ReceivedRequest) -> dt.datetime:
    when = parse_amz_date(request.header("x-amz-date"))
    assert when is not None
    return when


def refusal(request: ReceivedRequest, state: AccountState, now: dt.datetime | None = None) -> tuple[int, str, str]:
    with pytest.raises(StsError) as caught:
        authenticate(request, state, now or signing_time(request))
    return caught.value.status, caught.value.code, caught.value.message


def test_a_botocore_signed_request_is_accepted(state):
    request = signed(state)
    call = authenticate(request, state, signing_time(request) + MAX_SKEW)
    assert call.action == "GetCallerIdentity" and call.credentials.access_key_id == "ASIAEMULATORTESTKEY1"


def test_the_authorization_header_is_required_and_must_parse(state):
    request = signed(state)
    assert refusal(spoiled(request, "authorization", None), state)[:2] == (403, "MissingAuthenticationToken")
    assert refusal(spoiled(request, "authorization", "AWS4-HMAC-SHA256 nonsense"), state)[:2] == (
        400,
        "IncompleteSignature",
    )


def test_host_and_date_must_be_signed_and_every_signed_header_sent(state):
    request = signed(state)
    authorization = request.header("authorization") or ""
    unsigned_date = authorization.replace(";x-amz-date", "")
    assert refusal(spoiled(request, "authorization", unsigned_date), state) == (
        400,
        "IncompleteSignature",
        "'x-amz-date' must be a signed header",
    )
    assert refusal(spoiled(request, "x-amz-security-token", None), state) == (
        400,
        "IncompleteSignature",
        "Signed header 'x-amz-security-token' is missing from the request",
    )


def test_the_date_must_parse_and_be_within_the_skew(state):
    request = signed(state)
    when = signing_time(request)
    status, code, message = refusal(spoiled(request, "x-amz-date", "2026-01-01T00:00:00Z"), state, when)
    assert (status, code) == (400, "IncompleteSignature") and "YYYYMMDDTHHMMSSZ" in message
    assert refusal(request, state, when + MAX_SKEW + dt.timedelta(seconds=1))[:2] == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    "change, code, words",
    [
        (lambda scope: scope.replace("/aws4_request", "/aws5_request"), "IncompleteSignature", "<date>/<region>/sts"),
        (lambda scope: "19990101" + scope[8:], "SignatureDoesNotMatch", "Date in Credential scope"),
    ],
)
def test_the_credential_scope_has_four_parts_and_the_request_date(state, change, code, words):
    request = signed(state)
    authorization = request.header("authorization") or ""
    head, _, rest = authorization.partition("Credential=ASIAEMULATORTESTKEY1/")
    scope, _, tail = rest.partition(",")
    status, got, message = refusal(
        spoiled(request, "authorization", f"{head}Credential=ASIAEMULATORTESTKEY1/{change(scope)},{tail}"), state
    )
    assert got == code and words in message


def test_the_scope_names_this_region_or_us_east_1_and_sts(state):
    global_scope = signed(state, region="us-east-1")
    assert authenticate(global_scope, state, signing_time(global_scope)).action == "GetCallerIdentity"
    status, code, message = refusal(signed(state, region="ap-south-1"), state)
    assert (status, code) == (403, "SignatureDoesNotMatch") and "not 'ap-south-1'" in message
    status, code, message = refusal(signed(state, service="iam"), state)
    assert (status, code) == (403, "SignatureDoesNotMatch") and "not 'iam'" in message


def test_the_caller_needs_its_own_token_and_unexpired_credentials(state):
    request = signed(state)
    assert refusal(spoiled(request, "x-amz-security-token", "u" * 64), state)[:2] == (403, "InvalidClientTokenId")
    issued = state.lookup("ASIAEMULATORTESTKEY1")
    assert issued is not None
    issued.expiration = signing_time(request)
    assert refusal(request, state)[:2] == (403, "ExpiredToken")


def test_a_signed_payload_hash_must_be_the_bodys(state):
    wrong = signed(state, x_amz_content_sha256="0" * 64)
    assert refusal(wrong, state)[:2] == (400, "XAmzContentSHA256Mismatch")
    right = signed(state, x_amz_content_sha256=hashlib.sha256(BODY).hexdigest())
    assert authenticate(right, state, signing_time(right)).action == "GetCallerIdentity"


def test_a_body_changed_after_signing_fails_the_signature(state):
    request = signed(state)
    changed = spoiled(request, "content-type", FORM, body=BODY.replace(b"GetCallerIdentity", b"AssumeRole"))
    assert refusal(changed, state)[:2] == (403, "SignatureDoesNotMatch")
