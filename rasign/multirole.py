"""Several roles from one unlock: one signer (one PIN entry, one token session) minting for many roles.

A PKCS#11 token or a TPM key is the expensive part of a session: a PIN prompt, a login that
counts against a lockout, a touch. A service that needs credentials for several roles (or
several chained roles) should pay that once. :class:`SharedSigner` opens the key on first
use and keeps it; every :class:`RoleMinter` it hands out mints CreateSession for its own role
(with its own profile, duration and session name) and then runs its own role chain.

Signing is serialised by one lock, because PKCS#11 sessions and TPM contexts must not sign
concurrently; each role keeps its own HTTP connection pool.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rasign.credentials import Credentials
    from rasign.identities import ChainStep
    from rasign.options import SessionOptions, SignerOptions
    from rasign.session import PlannedSession, SessionClient
    from rasign.signer import Signer


class SharedSigner:
    """One open signer shared by every role minted through it."""

    def __init__(self, signer_options: SignerOptions) -> None:
        self.signer_options = signer_options
        self._lock = threading.Lock()
        self._signer: Signer | None = None
        self.opened = 0
        """How many times the key was opened (tests and health output read it)."""

    def minter(
        self,
        session_options: SessionOptions | PlannedSession,
        *,
        chain: Sequence[ChainStep] = (),
        sts_endpoint: str | None = None,
        name: str = "",
    ) -> RoleMinter:
        """A minter for one role; ARNs and durations are checked now, before any PIN."""
        return RoleMinter(self, session_options, chain=chain, sts_endpoint=sts_endpoint, name=name)

    def sign_with(self, client_factory: Any) -> Any:
        """Run ``client_factory(signer)`` under the signing lock, opening the key on first use."""
        from rasign.errors import BackendUnavailable, SigningError
        from rasign.workflow import open_signer_checked

        with self._lock:
            if self._signer is None:
                self._signer = open_signer_checked(self.signer_options)
                self.opened += 1
            try:
                return client_factory(self._signer)
            except (SigningError, BackendUnavailable):
                self._close_locked()  # token removed or TPM reset: open afresh next time
                raise

    def close(self) -> None:
        """Release the key (PKCS#11 logout, TPM context)."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        signer, self._signer = self._signer, None
        if signer is not None:
            signer.close()

    def __enter__(self) -> SharedSigner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class RoleMinter:
    """Mints credentials for one role through a :class:`SharedSigner` (same interface as SessionMinter)."""

    def __init__(
        self,
        shared: SharedSigner,
        session_options: SessionOptions | PlannedSession,
        *,
        chain: Sequence[ChainStep] = (),
        sts_endpoint: str | None = None,
        name: str = "",
    ) -> None:
        from rasign.session import ensure_planned

        self.planned = ensure_planned(session_options)
        self.target = self.planned.target
        self.shared = shared
        self.session_options = self.planned.options
        self.chain = list(chain)
        self.sts_endpoint = sts_endpoint
        self.name = name
        self._client: SessionClient | None = None
        self._client_signer: Signer | None = None

    def _create(self, signer: Signer) -> Credentials:
        from rasign.session import SessionClient

        if self._client is None or self._client_signer is not signer:
            if self._client is not None:
                self._client.close()
            self._client = SessionClient(signer, self.planned)
            self._client_signer = signer
        return self._client.create_session()

    def mint(self) -> Credentials:
        """CreateSession with the shared key, then this role's chain (outside the signing lock)."""
        credentials: Credentials = self.shared.sign_with(self._create)
        if self.chain:
            from rasign.chain import assume_chain

            credentials = assume_chain(
                credentials,
                self.chain,
                self.session_options,
                region=self.target.region,
                sts_endpoint=self.sts_endpoint,
                identity=self.name,
            )
        return credentials

    def open(self) -> None:
        """Open the shared key now (in the foreground, where a PIN prompt can reach a terminal)."""
        self.shared.sign_with(lambda signer: None)

    def close(self) -> None:
        """Close this role's connections; the key belongs to the :class:`SharedSigner`."""
        if self._client is not None:
            self._client.close()
            self._client = None


def role_options(base: SessionOptions, overrides: dict[str, Any]) -> SessionOptions:
    """``base`` with one role's overrides (``role_arn``, ``profile_arn``, ``session_duration``, ...)."""
    from dataclasses import fields

    from rasign.errors import UsageError

    allowed = {f.name for f in fields(base)}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise UsageError(f"unknown role option(s): {', '.join(unknown)}", hint="valid: " + ", ".join(sorted(allowed)))
    return replace(base, **overrides)
