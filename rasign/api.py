"""Python API: Roles Anywhere credentials for boto3/botocore from any rasign key backend.

The library counterpart of ``rasign credential-process``: the same options (named like
the CLI flags, dashes as underscores), the same validation order, the same
:class:`~rasign.errors.RasignError` subclasses. Credentials refresh themselves through
botocore's :class:`~botocore.credentials.RefreshableCredentials`: in the advisory window
(15 minutes before expiry) one thread refreshes while the others keep the current
credentials; in the mandatory window (10 minutes) callers wait for the refresh. The key
stays open between refreshes (a PKCS#11 PIN is asked once); file-backed keys are re-read
on each refresh so rotated files are picked up.

Example::

    import rasign.api

    session = rasign.api.session(
        certificate="/etc/pki/client.pem",
        private_key="pkcs11:token=prod;object=client",
        pkcs11_pin_file="/run/secrets/pin",
        trust_anchor_arn="arn:aws:rolesanywhere:eu-west-1:111122223333:trust-anchor/...",
        profile_arn="arn:aws:rolesanywhere:eu-west-1:111122223333:profile/...",
        role_arn="arn:aws:iam::111122223333:role/app",
    )
    session.client("s3").list_buckets()

botocore and boto3 are imported only when these functions run (``pip install
'rasign[boto3]'``); importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from rasign.errors import BackendUnavailable, UsageError
from rasign.options import SessionOptions, SignerOptions

if TYPE_CHECKING:
    import boto3
    import botocore.credentials
    import botocore.session
    from typing_extensions import Self  # typing.Self is 3.11+; only type checkers read this

    from rasign.clock import Clock
    from rasign.multirole import RoleMinter, SharedSigner
    from rasign.refresh import SessionMinter

__all__ = [
    "RoleSessions",
    "RolesAnywhereCredentialProvider",
    "build_options",
    "refreshable_credentials",
    "session",
    "sessions",
]

METHOD = "rasign-roles-anywhere"

_SIGNER_FIELDS = {f.name for f in fields(SignerOptions)}
_SESSION_FIELDS = {f.name for f in fields(SessionOptions)}


def build_options(
    signer_options: SignerOptions | None = None,
    session_options: SessionOptions | None = None,
    **options: Any,
) -> tuple[SignerOptions, SessionOptions]:
    """Merge keyword options (CLI flag names with underscores) into the two option objects.

    ``build_options(certificate="c.pem", private_key="k.pem", role_arn=...)``. An unknown
    name raises :class:`~rasign.errors.UsageError` listing the valid ones, the way the CLI
    rejects an unknown flag.
    """
    signer = signer_options or SignerOptions()
    sess = session_options or SessionOptions()
    unknown = sorted(set(options) - _SIGNER_FIELDS - _SESSION_FIELDS)
    if unknown:
        raise UsageError(
            f"unknown option(s): {', '.join(unknown)}",
            hint="valid options: " + ", ".join(sorted(_SIGNER_FIELDS | _SESSION_FIELDS)),
        )
    for name, value in options.items():
        setattr(signer if name in _SIGNER_FIELDS else sess, name, value)
    return signer, sess


def _require_botocore() -> Any:
    try:
        import botocore.credentials
    except ImportError as err:
        raise BackendUnavailable(
            "the Python API needs botocore, which is not installed",
            hint="install it with: pip install 'rasign[boto3]'",
        ) from err
    return botocore.credentials


class RolesAnywhereCredentialProvider:
    """A botocore credential provider backed by any rasign key backend.

    Fits botocore's provider chain (``METHOD``, ``CANONICAL_NAME``, ``load()``), so it can
    be inserted into an existing session::

        provider = RolesAnywhereCredentialProvider(certificate=..., private_key=..., ...)
        botocore_session.get_component("credential_provider").insert_before("env", provider)

    Construction validates every option that needs no key or network (ARNs, region,
    duration, endpoint); :meth:`load` opens the key and calls CreateSession.
    """

    METHOD = METHOD
    CANONICAL_NAME = "RolesAnywhere"

    def __init__(
        self,
        signer_options: SignerOptions | None = None,
        session_options: SessionOptions | None = None,
        *,
        advisory_timeout: float | None = None,
        mandatory_timeout: float | None = None,
        clock: Clock | None = None,
        minter: RoleMinter | None = None,
        **options: Any,
    ) -> None:
        from rasign.refresh import SessionMinter, refresh_seconds

        self.signer_options, self.session_options = build_options(signer_options, session_options, **options)
        # The refresh settings' one rule (rasign.refresh), as for serve and update: checked here, not by botocore later.
        self.advisory_timeout = (
            None if advisory_timeout is None else refresh_seconds(advisory_timeout, "advisory_timeout")
        )
        self.mandatory_timeout = (
            None if mandatory_timeout is None else refresh_seconds(mandatory_timeout, "mandatory_timeout")
        )
        self.clock = clock
        """Where botocore reads the time when deciding to refresh (tests pass a FakeClock)."""
        # ``minter``: a rasign.multirole.RoleMinter, so several providers share one unlocked key.
        self._minter: SessionMinter | RoleMinter = minter or SessionMinter(self.signer_options, self.session_options)
        self.planned = self._minter.planned
        """The checked session (target, endpoint): planned once, by the minter."""
        self._credentials: botocore.credentials.RefreshableCredentials | None = None

    def _fetch(self) -> dict[str, str]:
        credentials = self._minter.mint()
        return {
            "access_key": credentials.access_key_id,
            "secret_key": credentials.secret_access_key,
            "token": credentials.session_token,
            "expiry_time": credentials.expiration,
        }

    def load(self) -> botocore.credentials.RefreshableCredentials:
        """Mint the first credentials and return them as self-refreshing botocore credentials."""
        if self._credentials is None:
            from rasign.credentials import parse_timestamp

            module = _require_botocore()
            extra: dict[str, Any] = {}
            if self.clock is not None:
                extra["time_fetcher"] = self.clock.now
            metadata = self._fetch()
            self._credentials = module.RefreshableCredentials(
                access_key=metadata["access_key"],
                secret_key=metadata["secret_key"],
                token=metadata["token"],
                expiry_time=parse_timestamp(metadata["expiry_time"]),
                refresh_using=self._fetch,
                method=self.METHOD,
                advisory_timeout=self.advisory_timeout,
                mandatory_timeout=self.mandatory_timeout,
                **extra,
            )
        return self._credentials

    def close(self) -> None:
        """Release the key (PKCS#11 logout, TPM context). Later refreshes re-open it."""
        self._minter.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refreshable_credentials(
    signer_options: SignerOptions | None = None,
    session_options: SessionOptions | None = None,
    **options: Any,
) -> botocore.credentials.RefreshableCredentials:
    """Self-refreshing botocore credentials for these options (minted now, so errors surface now)."""
    return RolesAnywhereCredentialProvider(signer_options, session_options, **options).load()


def session(
    signer_options: SignerOptions | None = None,
    session_options: SessionOptions | None = None,
    *,
    region_name: str | None = None,
    botocore_session: botocore.session.Session | None = None,
    identity: str | None = None,
    identity_file: str | None = None,
    **options: Any,
) -> boto3.Session:
    """A :class:`boto3.Session` whose credentials come from Roles Anywhere.

    Region: ``region_name``, else the usual botocore configuration, else the trust
    anchor's region. The first CreateSession runs here, so a wrong PIN, an unknown role or
    an unreachable endpoint raises now rather than on the first API call.

    ``identity="prod"`` takes the options of ``[identity.prod]`` from the identities file
    (``identity_file``, else the default location; see docs/identities.md); keyword options
    given here win, and the identity's role chain, if any, is assumed after CreateSession.
    """
    try:
        import boto3
        import botocore.session
    except ImportError as err:
        raise BackendUnavailable(
            "rasign.api.session needs boto3, which is not installed",
            hint="install it with: pip install 'rasign[boto3]'",
        ) from err
    if identity is not None:
        provider = _identity_provider(identity, identity_file, signer_options, session_options, options)
    else:
        provider = RolesAnywhereCredentialProvider(signer_options, session_options, **options)
    provider.load()
    core = botocore_session or botocore.session.Session()
    resolver = core.get_component("credential_provider")
    resolver.insert_before(resolver.providers[0].METHOD, provider)
    if region_name is None and core.get_config_variable("region") is None:
        region_name = provider.planned.target.region
    return boto3.Session(botocore_session=core, region_name=region_name)


def _identity_provider(
    name: str,
    identity_file: str | None,
    signer_options: SignerOptions | None,
    session_options: SessionOptions | None,
    options: dict[str, Any],
) -> RolesAnywhereCredentialProvider:
    """A provider for a named identity: its options under the caller's, its chain after CreateSession."""
    from rasign.identities import api_options, get_identity

    found = get_identity(name, identity_file)
    merged: dict[str, Any] = {**api_options(found), **options}
    if not found.chain:
        return RolesAnywhereCredentialProvider(signer_options, session_options, **merged)
    from rasign.multirole import SharedSigner

    signer, sess = build_options(signer_options, session_options, **merged)
    minter = SharedSigner(signer).minter(sess, chain=found.chain, sts_endpoint=found.sts_endpoint, name=found.name)
    return RolesAnywhereCredentialProvider(signer, sess, minter=minter)


class RoleSessions(dict):  # type: ignore[type-arg]
    """``{name: boto3.Session}`` for several roles sharing one unlocked key; close it when done."""

    def __init__(self, shared: SharedSigner) -> None:
        super().__init__()
        self.shared = shared
        """The :class:`rasign.multirole.SharedSigner` behind every session."""
        self.providers: dict[str, RolesAnywhereCredentialProvider] = {}

    def close(self) -> None:
        """Close every role's connections and release the key (PKCS#11 logout, TPM context)."""
        for provider in self.providers.values():
            provider.close()
        self.shared.close()

    def __enter__(self) -> RoleSessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sessions(
    roles: dict[str, str | dict[str, Any]],
    signer_options: SignerOptions | None = None,
    session_options: SessionOptions | None = None,
    *,
    region_name: str | None = None,
    **options: Any,
) -> RoleSessions:
    """One :class:`boto3.Session` per role, all signed by one key opened once (one PIN, one login).

    ``roles`` maps a name to a role ARN, or to a dict of per-role options (``role_arn``,
    ``profile_arn``, ``session_duration``, ``role_session_name``, ...) plus an optional
    ``chain``: a list of role ARNs or :class:`rasign.identities.ChainStep` to assume after
    CreateSession, and ``sts_endpoint``. Every role is validated before the key is opened;
    the first credentials of each are minted here, so errors surface now::

        with rasign.api.sessions({"app": APP_ROLE, "audit": AUDIT_ROLE}, certificate=..., private_key=...,
                                 trust_anchor_arn=..., profile_arn=...) as by_role:
            by_role["audit"].client("s3").list_buckets()
    """
    try:
        import boto3
        import botocore.session
    except ImportError as err:
        raise BackendUnavailable(
            "rasign.api.sessions needs boto3, which is not installed",
            hint="install it with: pip install 'rasign[boto3]'",
        ) from err
    from rasign.identities import ChainStep
    from rasign.multirole import SharedSigner, role_options

    base_signer, base_session = build_options(signer_options, session_options, **options)
    shared = SharedSigner(base_signer)
    result = RoleSessions(shared)
    minters = {}
    for name, spec in roles.items():
        overrides: dict[str, Any] = {"role_arn": spec} if isinstance(spec, str) else dict(spec)
        chain = [
            step if isinstance(step, ChainStep) else ChainStep(role_arn=str(step))
            for step in overrides.pop("chain", [])
        ]
        sts_endpoint = overrides.pop("sts_endpoint", None)
        minters[name] = shared.minter(
            role_options(base_session, overrides), chain=chain, sts_endpoint=sts_endpoint, name=name
        )
    try:
        for name, minter in minters.items():
            provider = RolesAnywhereCredentialProvider(base_signer, minter.session_options, minter=minter)
            provider.load()
            core = botocore.session.Session()
            resolver = core.get_component("credential_provider")
            resolver.insert_before(resolver.providers[0].METHOD, provider)
            region = region_name or core.get_config_variable("region") or minter.target.region
            result.providers[name] = provider
            result[name] = boto3.Session(botocore_session=core, region_name=region)
    except BaseException:
        result.close()
        raise
    return result
