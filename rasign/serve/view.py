"""The credentials currently on offer, rendered once per refresh.

The refresher thread calls :meth:`CredentialView.update` after each successful
CreateSession; request threads call :meth:`CredentialView.snapshot`, which is a single
attribute read (atomic under the GIL), so a GET never takes a lock held across network
I/O and never sees a mix of old and new values.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from dataclasses import dataclass
from typing import Any


def rfc3339(moment: _dt.datetime) -> str:
    """``2026-11-23T09:00:00Z`` (UTC, whole seconds), as IMDS and the Go helper print it."""
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Rendered:
    """One generation of credentials, ready to send. Holds secrets: never log it."""

    expires_epoch: float
    expiration: str
    imds_body: bytes
    ecs_body: bytes

    def __repr__(self) -> str:  # keep secrets out of tracebacks and debug dumps
        return f"Rendered(expiration={self.expiration!r})"


class CredentialView:
    """Holds the latest :class:`Rendered` credentials."""

    def __init__(self, role_arn: str = "", expiry_skew: float = 5.0) -> None:
        self.role_arn = role_arn
        self.expiry_skew = expiry_skew
        self._current: Rendered | None = None

    def update(self, credentials: Any) -> None:
        """Render ``credentials`` (a :class:`rasign.session.Credentials`) for both APIs."""
        expires_at: _dt.datetime = credentials.expires_at
        expiration = rfc3339(expires_at)
        imds = {
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "Token": credentials.session_token,
            "Code": "Success",
            "Type": "AWS-HMAC",
            "Expiration": expiration,
            "LastUpdated": rfc3339(_dt.datetime.now(_dt.timezone.utc)),
        }
        ecs = {
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "Token": credentials.session_token,
            "Expiration": expiration,
        }
        if self.role_arn:
            ecs["RoleArn"] = self.role_arn
        self._current = Rendered(
            expires_epoch=expires_at.timestamp(),
            expiration=expiration,
            imds_body=(json.dumps(imds, indent=2) + "\n").encode("utf-8"),
            ecs_body=json.dumps(ecs).encode("utf-8"),
        )

    def snapshot(self) -> Rendered | None:
        """The current credentials if still valid beyond the skew, else None."""
        current = self._current
        if current is None or current.expires_epoch - time.time() <= self.expiry_skew:
            return None
        return current
