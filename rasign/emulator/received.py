"""A request exactly as the emulator received it.

Signature checks must rebuild the canonical request from what arrived on the wire, not
from what the client meant to send: header order, duplicates and spelling, the raw path,
the raw query and the exact body bytes are all kept.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class ReceivedRequest:
    """Method, raw path and query, headers in arrival order, body bytes."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """All values of header ``name`` (case-insensitive) comma-joined, or None."""
        lower = name.lower()
        values = [value for key, value in self.headers if key.lower() == lower]
        return ",".join(values) if values else None

    def header_names(self) -> set[str]:
        """Lower-case names of every header received."""
        return {key.lower() for key, _ in self.headers}

    def query_pairs(self) -> list[tuple[str, str]]:
        """The query decoded into name/value pairs, blanks kept (``roleArn=`` is a value)."""
        return parse_qsl(self.query, keep_blank_values=True)

    def content_type(self) -> str:
        """Media type without parameters, lower case ('' when absent)."""
        value = self.header("content-type") or ""
        return value.split(";", 1)[0].strip().lower()


def parse_amz_date(value: str | None) -> _dt.datetime | None:
    """``YYYYMMDDTHHMMSSZ`` -> aware UTC datetime, or None when absent or malformed."""
    if not value:
        return None
    try:
        return _dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def format_amz_date(moment: _dt.datetime) -> str:
    """The inverse of :func:`parse_amz_date`."""
    return moment.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def skew_problem(signed_at: _dt.datetime, now: _dt.datetime, limit: _dt.timedelta) -> str | None:
    """AWS's wording for a request date outside the allowed window, or None."""
    if signed_at < now - limit:
        return (
            f"Signature expired: {format_amz_date(signed_at)} is now earlier than "
            f"{format_amz_date(now - limit)} ({format_amz_date(now)} - {_minutes(limit)} min.)"
        )
    if signed_at > now + limit:
        return (
            f"Signature not yet current: {format_amz_date(signed_at)} is still later than "
            f"{format_amz_date(now + limit)} ({format_amz_date(now)} + {_minutes(limit)} min.)"
        )
    return None


def _minutes(delta: _dt.timedelta) -> int:
    return int(delta.total_seconds() // 60)


def canonical_request_as_received(
    request: ReceivedRequest, signed: tuple[str, ...], payload_hash: str | None = None
) -> str:
    """The canonical request rebuilt from what arrived, for the headers the client listed.

    Uses the shared core (``rasign.sigv4x509``) whenever the listed headers are ones the
    core signs; when a client also signed a header the core never signs (say
    ``user-agent``), the same rules are applied here directly so that the client's own
    choice is honoured rather than silently dropped. ``payload_hash`` overrides the body
    hash, for SigV4 clients that send ``x-amz-content-sha256`` (``UNSIGNED-PAYLOAD``).
    """
    from rasign import sigv4x509

    wanted = set(signed)
    headers = [(name, value) for name, value in request.headers if name.lower() in wanted]
    body_hash = payload_hash if payload_hash is not None else sigv4x509.payload_hash(request.body)
    if wanted.isdisjoint(sigv4x509.UNSIGNED_HEADERS) and payload_hash is None:
        return sigv4x509.canonical_request(
            sigv4x509.CanonicalInput(
                method=request.method,
                path=request.path,
                query=request.query_pairs(),
                headers=headers,
                body=request.body,
            )
        )
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(value)
    block = "".join(f"{name}:{','.join(_trimall(v) for v in grouped[name])}\n" for name in sorted(grouped))
    return "\n".join(
        (
            request.method.upper(),
            sigv4x509.canonical_uri(request.path),
            sigv4x509.canonical_query(request.query_pairs()),
            block,
            ";".join(sorted(grouped)),
            body_hash,
        )
    )


def _trimall(value: str) -> str:
    return " ".join(part for part in value.strip().split(" ") if part)
