"""SigV4-X509: the request signature Roles Anywhere verifies. Pure: no I/O, no clock.

Every function takes what it needs as arguments (method, path, query pairs, headers,
body, timestamp, region, service) and returns text, so each stage can be checked against
the known-answer vectors in ``tests/vectors`` by name: payload hash, canonical query,
canonical headers, signed headers, canonical request, scope, string to sign, and the
Authorization header.

Example::

    request = CanonicalInput(method="POST", path="/sessions", query=[("roleArn", arn)],
                             headers=[("Host", host), ("X-Amz-Date", amz_date)], body=b"{}")
    sts = string_to_sign(algorithm, amz_date, credential_scope(amz_date, "us-east-1"),
                         canonical_request(request))
    header = authorization_header(algorithm, serial, scope, signed_headers(request.headers),
                                  signer.sign(sts.encode()).hex())
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

SERVICE = "rolesanywhere"
"""Service name in the credential scope of CreateSession."""

UNSIGNED_HEADERS = frozenset({"authorization", "user-agent", "x-amzn-trace-id"})
"""Headers never signed, as in the official helper (they may change in transit)."""

SignFunction = Callable[[bytes], bytes]
"""Turns the string-to-sign bytes into the wire signature."""

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_SPACES = re.compile(r" +")


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """Percent-encode per SigV4: everything but ``A-Za-z0-9-_.~``, uppercase hex, space -> %20."""
    out = []
    for byte in value.encode("utf-8"):
        if byte in _UNRESERVED or (keep_slash and byte == 0x2F):
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def canonical_uri(path: str) -> str:
    """Canonical URI of a non-S3 request: each segment encoded, an empty path is ``/``."""
    if not path:
        return "/"
    return uri_encode(path, keep_slash=True)


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Canonical query string from *decoded* name/value pairs (sorted by name, then value)."""
    encoded = sorted((uri_encode(name), uri_encode(value)) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def wire_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The query string as sent; identical to the canonical form, so the two never disagree."""
    return canonical_query(pairs)


def _trimall(value: str) -> str:
    return _SPACES.sub(" ", value.strip())


def _grouped(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in UNSIGNED_HEADERS:
            continue
        grouped.setdefault(lower, []).append(value)
    return grouped


def signed_headers(headers: Sequence[tuple[str, str]]) -> str:
    """Lowercase names of the signed headers, sorted and joined with ``;``."""
    return ";".join(sorted(_grouped(headers)))


def canonical_headers(headers: Sequence[tuple[str, str]]) -> str:
    """``name:value`` lines, sorted by name, each ending in ``\\n``; repeated names comma-joined."""
    grouped = _grouped(headers)
    return "".join(f"{name}:{','.join(_trimall(v) for v in grouped[name])}\n" for name in sorted(grouped))


def payload_hash(body: bytes) -> str:
    """Lowercase hex SHA-256 of the exact body bytes."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class CanonicalInput:
    """Everything the canonical request depends on."""

    method: str
    path: str
    query: Sequence[tuple[str, str]] = ()
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""


def canonical_request(request: CanonicalInput) -> str:
    """The six-part canonical request text (with the blank line after the headers block)."""
    return "\n".join(
        (
            request.method.upper(),
            canonical_uri(request.path),
            canonical_query(request.query),
            canonical_headers(request.headers),
            signed_headers(request.headers),
            payload_hash(request.body),
        )
    )


def amz_date(moment: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC, second precision (the ``X-Amz-Date`` value)."""
    if moment.tzinfo is None:
        raise ValueError("amz_date needs an aware datetime")
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def credential_scope(x_amz_date: str, region: str, service: str = SERVICE) -> str:
    """``<YYYYMMDD>/<region>/<service>/aws4_request``; the date is taken from ``X-Amz-Date``."""
    return f"{x_amz_date[:8]}/{region}/{service}/aws4_request"


def string_to_sign(algorithm: str, x_amz_date: str, scope: str, canonical: str) -> str:
    """Four lines, no trailing newline: algorithm, date-time, scope, SHA-256 of the request."""
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{algorithm}\n{x_amz_date}\n{scope}\n{digest}"


def authorization_header(algorithm: str, serial_number: int, scope: str, signed: str, signature_hex: str) -> str:
    """``<alg> Credential=<decimal serial>/<scope>, SignedHeaders=<list>, Signature=<hex>``."""
    return f"{algorithm} Credential={serial_number}/{scope}, SignedHeaders={signed}, Signature={signature_hex}"


@dataclass(frozen=True)
class SignedRequest:
    """The stages of one signature, kept for ``--debug`` and for the tests."""

    canonical_request: str
    string_to_sign: str
    authorization: str
    headers: tuple[tuple[str, str], ...]


def sign_request(
    request: CanonicalInput,
    *,
    algorithm: str,
    serial_number: int,
    region: str,
    sign: SignFunction,
    service: str = SERVICE,
) -> SignedRequest:
    """Sign ``request`` whose headers already include ``Host``, ``X-Amz-Date`` and ``X-Amz-X509``.

    ``sign`` receives the string-to-sign bytes and returns the wire signature. The result
    carries the full header list to send: the input headers plus ``Authorization``.
    """
    date_value = _header(request.headers, "x-amz-date")
    if date_value is None:
        raise ValueError("X-Amz-Date must be among the headers to sign")
    scope = credential_scope(date_value, region, service)
    canonical = canonical_request(request)
    sts = string_to_sign(algorithm, date_value, scope, canonical)
    signature = sign(sts.encode("utf-8"))
    auth = authorization_header(algorithm, serial_number, scope, signed_headers(request.headers), signature.hex())
    return SignedRequest(
        canonical_request=canonical,
        string_to_sign=sts,
        authorization=auth,
        headers=(*tuple(request.headers), ("Authorization", auth)),
    )


def _header(headers: Sequence[tuple[str, str]], lower_name: str) -> str | None:
    for name, value in headers:
        if name.lower() == lower_name:
            return value
    return None


@dataclass(frozen=True)
class ParsedAuthorization:
    """The parts of a SigV4-X509 Authorization header, as a verifier needs them."""

    algorithm: str
    serial_number: int
    scope: str
    signed_headers: tuple[str, ...]
    signature: bytes


_AUTH = re.compile(
    r"^(?P<alg>AWS4-X509-[A-Z0-9-]+) Credential=(?P<serial>-?\d+)/(?P<scope>[^,]+), "
    r"SignedHeaders=(?P<signed>[a-z0-9;_.-]+), Signature=(?P<sig>[0-9a-f]+)$"
)


def parse_authorization(value: str) -> ParsedAuthorization:
    """Parse an Authorization header; raises ValueError naming what is malformed."""
    match = _AUTH.match(value.strip())
    if not match:
        raise ValueError("malformed SigV4-X509 Authorization header")
    return ParsedAuthorization(
        algorithm=match["alg"],
        serial_number=int(match["serial"]),
        scope=match["scope"],
        signed_headers=tuple(match["signed"].split(";")),
        signature=bytes.fromhex(match["sig"]),
    )
