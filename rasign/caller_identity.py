"""STS GetCallerIdentity signed with ordinary SigV4 (HMAC-SHA256): do issued credentials work?

``rasign demo`` uses it to prove, on a core-only install (no boto3), that the credentials
CreateSession returned are accepted by STS: the request is signed with the secret key the
way every AWS SDK signs it, and the emulator (or STS) checks that signature for real.

The canonical request comes from the same pure core as SigV4-X509
(:mod:`rasign.sigv4x509`); only the key derivation (kDate -> kRegion -> kService ->
kSigning) and the ``AWS4-HMAC-SHA256`` Authorization header differ. Only the query
protocol is spoken (``Action=GetCallerIdentity&Version=2011-06-15`` as a form body).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.sax.saxutils import unescape

from rasign import sigv4x509 as sv
from rasign.errors import ConfigError, NetworkError, ServiceError
from rasign.textsafe import clean

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "sts"
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
CONTENT_TYPE = "application/x-www-form-urlencoded"
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class CallerIdentity:
    """Who STS says the caller is."""

    arn: str
    user_id: str
    account: str


def signing_key(secret_access_key: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """SigV4 key derivation: an HMAC chain over the date, region, service and ``aws4_request``."""
    key = ("AWS4" + secret_access_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def host_header(endpoint: str) -> str:
    """The ``Host`` value a client sends for ``endpoint`` (the port only when not the default)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(
            f"STS endpoint {clean(endpoint)!r} is not an http(s) URL", hint="pass e.g. https://sts.amazonaws.com/"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if parts.port is not None and parts.port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{parts.port}"
    return host


def sign_get_caller_identity(
    credentials: Mapping[str, str], *, endpoint: str, region: str, now: dt.datetime
) -> tuple[tuple[str, str], ...]:
    """The headers of a signed GetCallerIdentity POST to ``endpoint`` (Authorization included).

    ``credentials`` is the ``credential_process`` document: ``AccessKeyId``,
    ``SecretAccessKey`` and ``SessionToken``. ``now`` is explicit so tests pin the clock.
    """
    date_value = sv.amz_date(now)
    headers = [
        ("Content-Type", CONTENT_TYPE),
        ("Host", host_header(endpoint)),
        ("X-Amz-Date", date_value),
        ("X-Amz-Security-Token", credentials["SessionToken"]),
    ]
    request = sv.CanonicalInput(method="POST", path=urlsplit(endpoint).path or "/", headers=headers, body=BODY)
    scope = sv.credential_scope(date_value, region, SERVICE)
    to_sign = sv.string_to_sign(ALGORITHM, date_value, scope, sv.canonical_request(request))
    key = signing_key(credentials["SecretAccessKey"], date_value[:8], region)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = (
        f"{ALGORITHM} Credential={credentials['AccessKeyId']}/{scope}, "
        f"SignedHeaders={sv.signed_headers(headers)}, Signature={signature}"
    )
    return (*headers, ("Authorization", authorization))


def get_caller_identity(
    credentials: Mapping[str, str],
    *,
    endpoint: str,
    region: str,
    verify: bool | str = True,
    now: dt.datetime | None = None,
    timeout: float = 10.0,
) -> CallerIdentity:
    """Call STS GetCallerIdentity with ``credentials``; raise a RasignError if STS refuses them."""
    from rasign.network_errors import cause
    from rasign.transport import HttpsClient

    moment = now or dt.datetime.now(dt.timezone.utc)
    headers = dict(sign_get_caller_identity(credentials, endpoint=endpoint, region=region, now=moment))
    try:
        with HttpsClient(verify=verify, connect_timeout=timeout, read_timeout=timeout) as client:
            answer = client.request("POST", endpoint, headers=headers, body=BODY)
    except OSError as err:  # the transport's errors and the socket errors below them
        raise NetworkError(
            f"could not reach STS at {clean(endpoint)}: {cause(err, connect_timeout=timeout, read_timeout=timeout)}",
            hint="is the endpoint up, and does --ca-bundle name its CA?",
        ) from err
    text = answer.body.decode("utf-8", "replace")
    if answer.status != 200:
        code, message = _field(text, "Code"), _field(text, "Message")
        raise ServiceError(
            f"STS refused GetCallerIdentity: HTTP {answer.status} {code}: {message}",
            status=answer.status,
            code=code,
            service_message=message,
            hint="the credentials were not accepted; rerun with --debug",
        )
    arn, user_id, account = (_field(text, name) for name in ("Arn", "UserId", "Account"))
    if not arn:
        raise ServiceError("STS answered GetCallerIdentity without an Arn", status=200, hint="is this an STS endpoint?")
    return CallerIdentity(arn=arn, user_id=user_id, account=account)


def _field(xml_text: str, name: str) -> str:
    """One element's text from an STS query-protocol answer (flat, no attributes, no DTD)."""
    match = re.search(rf"<{name}>([^<]*)</{name}>", xml_text)
    return clean(unescape(match.group(1))) if match else ""
