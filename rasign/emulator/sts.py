"""STS GetCallerIdentity, authenticated with credentials the emulator issued.

This proves end to end that credentials handed out by CreateSession *work*: an SDK (boto3,
the AWS CLI) signs a request with them using ordinary SigV4 (HMAC-SHA256), and the
emulator checks that signature for real by deriving the signing key from the issued
secret (kDate -> kRegion -> kService ``sts`` -> kSigning) and rebuilding the canonical
request from what it received. A wrong secret, a foreign token or expired credentials
are refused exactly as STS does, with its XML error shape.

Only the query protocol is spoken (``Action=...&Version=2011-06-15`` as a form body or a
query string), which is what botocore and the AWS CLI use for STS.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from rasign.emulator.received import (
    ReceivedRequest,
    canonical_request_as_received,
    parse_amz_date,
    skew_problem,
)
from rasign.emulator.state import AccountState, IssuedCredentials

VERSION = "2011-06-15"
MAX_SKEW = _dt.timedelta(minutes=15)
NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<akid>[^/\s]+)/(?P<scope>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[a-z0-9;_.-]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)


class StsError(Exception):
    """An STS error response: status, code and message for the XML ``ErrorResponse``."""

    def __init__(self, status: int, code: str, message: str, *, kind: str = "Sender") -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.kind = kind


_INVALID_TOKEN = "The security token included in the request is invalid."
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class StsCall:
    """An authenticated STS call: who made it and which action."""

    credentials: IssuedCredentials
    action: str


def handle_sts(request: ReceivedRequest, state: AccountState, now: _dt.datetime, request_id: str) -> str:
    """Authenticate and answer one STS request; returns the XML body of a 200 response."""
    call = authenticate(request, state, now)
    if call.action == "AssumeRole":
        from rasign.emulator.assume_role import handle_assume_role

        return handle_assume_role(call, request, state, now, request_id)
    if call.action != "GetCallerIdentity":
        raise StsError(400, "InvalidAction", f"Could not find operation {call.action} for version {VERSION}")
    creds = call.credentials
    account = creds.assumed_role_arn.split(":")[4] if creds.assumed_role_arn.count(":") >= 5 else state.account_id
    return (
        f'<GetCallerIdentityResponse xmlns="{NAMESPACE}">\n'
        "  <GetCallerIdentityResult>\n"
        f"    <Arn>{escape(creds.assumed_role_arn)}</Arn>\n"
        f"    <UserId>{escape(creds.assumed_role_id)}</UserId>\n"
        f"    <Account>{escape(account or state.account_id)}</Account>\n"
        "  </GetCallerIdentityResult>\n"
        "  <ResponseMetadata>\n"
        f"    <RequestId>{escape(request_id)}</RequestId>\n"
        "  </ResponseMetadata>\n"
        "</GetCallerIdentityResponse>\n"
    )


def error_xml(error: StsError, request_id: str) -> str:
    """The ``ErrorResponse`` document botocore's query parser reads code and message from."""
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}">\n'
        "  <Error>\n"
        f"    <Type>{error.kind}</Type>\n"
        f"    <Code>{escape(error.code)}</Code>\n"
        f"    <Message>{escape(error.message)}</Message>\n"
        "  </Error>\n"
        f"  <RequestId>{escape(request_id)}</RequestId>\n"
        "</ErrorResponse>\n"
    )


def authenticate(request: ReceivedRequest, state: AccountState, now: _dt.datetime) -> StsCall:
    """Verify the SigV4 HMAC signature with the issued secret; return the caller.

    The checks run in STS's order, so each malformed request gets the error STS gives it.
    """
    match, signed = _authorization(request)
    date_value = _signing_date(request, now)
    date, region, service = _scope(match["scope"], date_value, state)
    creds = _caller(request, state, match["akid"], now)
    payload_hash = _payload_hash(request)
    canonical = canonical_request_as_received(request, signed, payload_hash)
    string_to_sign = "\n".join(
        ("AWS4-HMAC-SHA256", date_value, match["scope"], hashlib.sha256(canonical.encode("utf-8")).hexdigest())
    )
    key = signing_key(creds.secret_access_key, date, region, service)
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["sig"]):
        raise StsError(403, "SignatureDoesNotMatch", _BAD_SIGNATURE)
    return StsCall(credentials=creds, action=_action(request))


def _authorization(request: ReceivedRequest) -> tuple[re.Match[str], tuple[str, ...]]:
    """The parsed ``Authorization`` header and its signed headers (host and x-amz-date among them, all present)."""
    header = request.header("authorization")
    if not header:
        raise StsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
    match = _AUTH.match(header.strip())
    if not match:
        raise StsError(400, "IncompleteSignature", "Authorization header is not a valid AWS4-HMAC-SHA256 header")
    signed = tuple(match["signed"].split(";"))
    present = request.header_names()
    for name in ("host", "x-amz-date"):
        if name not in signed:
            raise StsError(400, "IncompleteSignature", f"'{name}' must be a signed header")
    for name in signed:
        if name not in present:
            raise StsError(400, "IncompleteSignature", f"Signed header '{name}' is missing from the request")
    return match, signed


def _signing_date(request: ReceivedRequest, now: _dt.datetime) -> str:
    """``X-Amz-Date`` as sent, once it parses and lies within :data:`MAX_SKEW` of ``now``."""
    date_value = request.header("x-amz-date") or ""
    signed_at = parse_amz_date(date_value)
    if signed_at is None:
        raise StsError(400, "IncompleteSignature", f"X-Amz-Date {date_value!r} is not in the form YYYYMMDDTHHMMSSZ")
    problem = skew_problem(signed_at, now, MAX_SKEW)
    if problem:
        raise StsError(403, "SignatureDoesNotMatch", problem)
    return date_value


def _scope(text: str, date_value: str, state: AccountState) -> tuple[str, str, str]:
    """Date, region and service of the credential scope, each checked against the request and this STS."""
    scope = text.split("/")
    if len(scope) != 4 or scope[3] != "aws4_request":
        raise StsError(400, "IncompleteSignature", "Credential scope must be <date>/<region>/sts/aws4_request")
    date, region, service, _ = scope
    if date != date_value[:8]:
        raise StsError(
            403,
            "SignatureDoesNotMatch",
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP",
        )
    if region not in (state.region, "us-east-1"):
        raise StsError(403, "SignatureDoesNotMatch", f"Credential should be scoped to a valid region, not '{region}'.")
    if service != "sts":
        raise StsError(
            403, "SignatureDoesNotMatch", f"Credential should be scoped to correct service: 'sts'. not '{service}'"
        )
    return date, region, service


def _caller(request: ReceivedRequest, state: AccountState, akid: str, now: _dt.datetime) -> IssuedCredentials:
    """The issued credentials of ``akid``, with the matching session token, not yet expired."""
    creds = state.lookup(akid)
    token = request.header("x-amz-security-token")
    if creds is None or token is None or not hmac.compare_digest(token.encode(), creds.session_token.encode()):
        raise StsError(403, "InvalidClientTokenId", _INVALID_TOKEN)
    if now >= creds.expiration:
        raise StsError(403, "ExpiredToken", "The security token included in the request is expired")
    return creds


def _payload_hash(request: ReceivedRequest) -> str | None:
    """``x-amz-content-sha256`` as sent, refused when it names a hash the body does not have."""
    payload_hash = request.header("x-amz-content-sha256")
    if payload_hash not in (None, "UNSIGNED-PAYLOAD") and payload_hash != hashlib.sha256(request.body).hexdigest():
        raise StsError(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    return payload_hash


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4 key derivation: HMAC chain over date, region, service and ``aws4_request``.

    Written here apart from :func:`rasign.caller_identity.signing_key` on purpose: the
    emulator is the verifier, and a verifier that shared the client's code would accept the
    client's mistakes. botocore's own signatures (the SDK tests) keep this one honest.
    """
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _action(request: ReceivedRequest) -> str:
    params = dict(request.query_pairs())
    if request.body:
        if request.content_type() != "application/x-www-form-urlencoded":
            raise StsError(400, "InvalidParameterValue", "STS speaks the query protocol only: send a form-encoded body")
        params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    action = params.get("Action")
    if not action:
        raise StsError(400, "MissingAction", "Missing Action")
    if params.get("Version") != VERSION:
        raise StsError(400, "InvalidParameterValue", f"Version must be {VERSION}")
    return action
