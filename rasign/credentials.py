"""Temporary AWS credentials and the texts they travel as, in one place.

Every way rasign hands credentials on is rendered here, so the formats cannot drift apart:

* :meth:`Credentials.to_process_json` -- the ``credential_process`` JSON, byte-compatible
  with the Go helper (and what the ``credential-process`` cache stores);
* :func:`from_process_json` -- that JSON read back (a cache hit, the agent's answer);
* :func:`imds_document` / :func:`ecs_document` -- the IMDSv2 and ECS container documents
  ``serve`` (and ``exec``) answer with;
* :func:`parse_timestamp` / :func:`rfc3339` -- the one timestamp reader and writer.

Standard library only and import-light: this module is on the cold ``credential-process``
path, which must not pay for ``cryptography`` or ``requests`` before it needs them.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Credentials:
    """Temporary AWS credentials. ``repr`` never shows the secret parts."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: str
    """The service's expiration text, passed through verbatim (as the Go helper does)."""
    role_arn: str = ""
    assumed_role_arn: str = ""

    @property
    def expires_at(self) -> _dt.datetime:
        """Expiration as an aware UTC datetime."""
        return parse_timestamp(self.expiration)

    def to_process_json(self) -> str:
        """The credential_process JSON, byte-compatible with the Go helper (no newline)."""
        return go_json(
            {
                "Version": 1,
                "AccessKeyId": self.access_key_id,
                "SecretAccessKey": self.secret_access_key,
                "SessionToken": self.session_token,
                "Expiration": self.expiration,
            }
        )


class _Delivered(Protocol):
    """What the IMDS and ECS documents need (``Credentials`` and the refresher's protocol)."""

    access_key_id: str
    secret_access_key: str
    session_token: str


def from_process_json(text: str) -> Credentials:
    """Credentials from credential_process JSON (what the cache holds); KeyError/ValueError if it is not."""
    document = json.loads(text)
    return Credentials(
        access_key_id=document["AccessKeyId"],
        secret_access_key=document["SecretAccessKey"],
        session_token=document["SessionToken"],
        expiration=document["Expiration"],
    )


def imds_document(credentials: _Delivered, expiration: str, last_updated: _dt.datetime) -> dict[str, str]:
    """The IMDSv2 ``security-credentials/ROLE`` document (members in EC2's order)."""
    return {
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "Token": credentials.session_token,
        "Code": "Success",
        "Type": "AWS-HMAC",
        "Expiration": expiration,
        "LastUpdated": rfc3339(last_updated),
    }


def ecs_document(credentials: _Delivered, expiration: str, role_arn: str = "") -> dict[str, str]:
    """The ECS container-credentials document; ``RoleArn`` only when there is one."""
    document = {
        "AccessKeyId": credentials.access_key_id,
        "SecretAccessKey": credentials.secret_access_key,
        "Token": credentials.session_token,
        "Expiration": expiration,
    }
    if role_arn:
        document["RoleArn"] = role_arn
    return document


def go_json(value: Any) -> str:
    """Compact JSON escaped like Go's encoder (``<`` as ``\\u003c``, likewise ``>``, ``&``, U+2028 and U+2029)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def parse_timestamp(text: str) -> _dt.datetime:
    """An RFC 3339 / ISO-8601 timestamp such as ``2026-01-02T03:04:05Z`` as aware UTC.

    Accepts ``Z`` or ``z`` or an offset, and any number of fraction digits (the service may
    send nanoseconds; Python 3.10 reads at most six). A timestamp without a zone is taken as
    UTC. Raises ``ValueError`` when the text is not a timestamp.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if "." in value:
        head, _, tail = value.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    moment = _dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc)


def rfc3339(moment: _dt.datetime) -> str:
    """``2026-11-23T09:00:00Z`` (UTC, whole seconds), as IMDS, STS and the Go helper print it."""
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
