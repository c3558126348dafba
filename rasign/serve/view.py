"""The credentials currently on offer, rendered once per refresh.

The refresher thread calls :meth:`CredentialView.update` after each successful
CreateSession; request threads call :meth:`CredentialView.snapshot`, which is a single
attribute read (atomic under the GIL), so a GET never takes a lock held across network
I/O and never sees a mix of old and new values. Time comes from the view's
:class:`~rasign.clock.Clock`, so tests move it instead of waiting for expiry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rasign.clock import SYSTEM, Clock
from rasign.credentials import ecs_document, imds_document, rfc3339


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

    def __init__(self, role_arn: str = "", expiry_skew: float = 5.0, *, clock: Clock = SYSTEM) -> None:
        self.role_arn = role_arn
        self.expiry_skew = expiry_skew
        self.clock = clock
        self._current: Rendered | None = None

    def update(self, credentials: Any) -> None:
        """Render ``credentials`` (a :class:`rasign.credentials.Credentials`) for both APIs."""
        expires_at = credentials.expires_at
        expiration = rfc3339(expires_at)
        imds = imds_document(credentials, expiration, last_updated=self.clock.now())
        ecs = ecs_document(credentials, expiration, self.role_arn)
        self._current = Rendered(
            expires_epoch=expires_at.timestamp(),
            expiration=expiration,
            imds_body=(json.dumps(imds, indent=2) + "\n").encode("utf-8"),
            ecs_body=json.dumps(ecs).encode("utf-8"),
        )

    def snapshot(self) -> Rendered | None:
        """The current credentials if still valid beyond the skew, else None."""
        current = self._current
        if current is None or current.expires_epoch - self.clock.now().timestamp() <= self.expiry_skew:
            return None
        return current
