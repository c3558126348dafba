"""Role chaining: ``sts:AssumeRole`` into target roles after CreateSession, and the shared
"credentials for these arguments" path used by ``credential-process`` (chained identities),
``exec`` and ``export``.

The STS call goes through botocore (the boto3 extra): AWS's own client already speaks the
query protocol, SigV4, retries, regional endpoints and its error shapes, and it is the code
every SDK user trusts. It is imported only on the chained path, after a cache miss: a cache
hit or an unchained identity imports nothing more than ``credential-process`` always did.

Chained credentials are cached like any other: the key is the base session's cache key plus
every chain step (role, external ID, session name, source identity, duration, tags).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rasign.errors import AccessDenied, BackendUnavailable, ConfigError, NetworkError, ServiceError, Throttled

if TYPE_CHECKING:
    from rasign.credentials import Credentials
    from rasign.identities import ChainStep
    from rasign.options import SessionOptions
    from rasign.session import PlannedSession

DEFAULT_SESSION_PREFIX = "rasign"


def chained_cache_key(base_key: str, steps: Sequence[ChainStep], sts_endpoint: str | None) -> str:
    """The base session's key extended by the chain: a different chain never shares credentials."""
    material = "\n".join([base_key, "sts:" + str(sts_endpoint or ""), *(step.cache_text() for step in steps)])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _sts_client(
    credentials: Credentials, region: str, endpoint: str | None, verify: bool | str, options: SessionOptions
) -> Any:
    try:
        import botocore.config
        import botocore.session
    except ImportError as err:
        raise BackendUnavailable(
            "role chaining needs botocore, which is not installed",
            hint="install it with: pip install 'rasign[boto3]'",
        ) from err
    session = botocore.session.Session()
    config = botocore.config.Config(
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        retries={"total_max_attempts": max(1, options.max_attempts), "mode": "standard"},
    )
    return session.create_client(
        "sts",
        region_name=region,
        endpoint_url=endpoint,
        verify=verify,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=config,
    )


def assume_chain(
    base: Credentials,
    steps: Sequence[ChainStep],
    options: SessionOptions,
    *,
    region: str,
    sts_endpoint: str | None = None,
    identity: str = "",
) -> Credentials:
    """Assume each role of ``steps`` in turn with the previous credentials; return the last."""
    from rasign.credentials import Credentials, rfc3339
    from rasign.logs import get_logger, register_secret
    from rasign.session import tls_verify

    log = get_logger("chain")
    verify = tls_verify(options)
    current = base
    for step in steps:
        step_region = step.region or region
        client = _sts_client(current, step_region, step.sts_endpoint or sts_endpoint, verify, options)
        request: dict[str, Any] = {
            "RoleArn": step.role_arn,
            "RoleSessionName": step.role_session_name or _default_session_name(identity),
        }
        if step.external_id:
            request["ExternalId"] = step.external_id
        if step.source_identity:
            request["SourceIdentity"] = step.source_identity
        if step.duration:
            request["DurationSeconds"] = step.duration
        if step.tags:
            request["Tags"] = [{"Key": key, "Value": value} for key, value in step.tags]
        if step.transitive_tag_keys:
            request["TransitiveTagKeys"] = list(step.transitive_tag_keys)
        log.debug("AssumeRole %s (session %s)", step.role_arn, request["RoleSessionName"])
        answer = _call(client, request, step.role_arn)
        creds = answer["Credentials"]
        for secret in (creds["SecretAccessKey"], creds["SessionToken"]):
            register_secret(secret)
        expiration = rfc3339(creds["Expiration"])
        current = Credentials(
            access_key_id=creds["AccessKeyId"],
            secret_access_key=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
            expiration=expiration,
            role_arn=step.role_arn,
            assumed_role_arn=(answer.get("AssumedRoleUser") or {}).get("Arn", ""),
        )
    return current


def _default_session_name(identity: str) -> str:
    import re

    name = f"{DEFAULT_SESSION_PREFIX}-{identity}" if identity else DEFAULT_SESSION_PREFIX
    return re.sub(r"[^\w+=,.@-]", "-", name, flags=re.ASCII)[:64]


def _call(client: Any, request: dict[str, Any], role_arn: str) -> dict[str, Any]:
    import botocore.exceptions

    try:
        answer: dict[str, Any] = client.assume_role(**request)
        return answer
    except botocore.exceptions.ClientError as err:
        error = err.response.get("Error", {})
        code = str(error.get("Code", "UnknownError"))
        message = str(error.get("Message", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        text = f"operation error STS: AssumeRole {role_arn}, StatusCode: {status}, {code}: {message}"
        if code == "AccessDenied" or status == 403:
            raise AccessDenied(
                text,
                status=status,
                code=code,
                service_message=message,
                hint=(
                    "the target role's trust policy must allow the source role (sts:AssumeRole), "
                    "and the external-id must match its sts:ExternalId condition"
                ),
            ) from None
        if code in ("Throttling", "ThrottlingException"):
            raise Throttled(text, status=status, code=code, service_message=message) from None
        if code == "ValidationError" and "duration" in message.lower():
            raise ServiceError(
                text,
                status=status,
                code=code,
                service_message=message,
                hint="a chained role session lasts at most 1 hour: lower the chain 'duration'",
            ) from None
        if "source identity" in message.lower():
            raise ServiceError(
                text,
                status=status,
                code=code,
                service_message=message,
                hint=(
                    "Roles Anywhere already set the source identity (from the certificate) and it propagates; "
                    "remove source-identity from the chain step"
                ),
            ) from None
        raise ServiceError(text, status=status, code=code, service_message=message) from None
    except botocore.exceptions.ParamValidationError as err:
        raise ConfigError(
            f"AssumeRole {role_arn}: {' '.join(str(err).split())}", hint="fix that chain step in the identities file"
        ) from None
    except botocore.exceptions.SSLError as err:
        raise NetworkError(
            f"TLS error talking to STS: {err}",
            hint="pass --ca-bundle (or AWS_CA_BUNDLE) with the CA that signs the STS endpoint",
        ) from None
    except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionError) as err:
        raise NetworkError(
            f"cannot reach STS for AssumeRole: {err}", hint="check network access, proxy settings and sts-endpoint"
        ) from None


# --------------------------------------------------------------------------- shared CLI path


def chain_of(args: argparse.Namespace) -> list[ChainStep]:
    """The chain steps the identity hook put on ``args`` (none without ``--identity``)."""
    return list(getattr(args, "identity_chain", None) or [])


def credentials_for(
    args: argparse.Namespace, *, allow_cache: bool = True, planned: PlannedSession | None = None
) -> tuple[Credentials | None, str]:
    """Credentials for parsed flags: cache, then CreateSession, then the chain.

    Returns ``(credentials, process_json)``; ``credentials`` is None on a cache hit (the
    JSON is all a hit has), so callers that need fields parse the JSON with
    :func:`rasign.credentials.from_process_json`. ``planned``: the session the caller planned
    from these flags already (so nothing is validated twice).
    """
    from rasign.cli import flags
    from rasign.session import plan_session

    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)
    signer_options = flags.signer_options(args)
    planned = planned or plan_session(flags.session_options(args))
    session_options, target = planned.options, planned.target
    steps = chain_of(args)
    sts_endpoint = getattr(args, "identity_sts_endpoint", None)

    key = None
    explicit = getattr(args, "cache", None)
    if allow_cache and explicit is not False:
        from rasign import cache

        wanted = cache.cache_wanted(args, signer_options) if explicit is not None or not steps else True
        key = cache.cache_key(signer_options, session_options) if wanted else None
        if key is not None and steps:
            key = chained_cache_key(key, steps, sts_endpoint)
        if key is not None:
            hit = cache.load_cached(key)
            if hit is not None:
                return None, hit

    from rasign.workflow import obtain_credentials

    credentials = obtain_credentials(signer_options, planned)
    if steps:
        credentials = assume_chain(
            credentials,
            steps,
            session_options,
            region=target.region,
            sts_endpoint=sts_endpoint,
            identity=getattr(args, "identity", "") or "",
        )
    output = credentials.to_process_json()
    if key is not None:
        from rasign import cache

        cache.store_cached(key, output, credentials.expiration)
    return credentials, output


def run_credential_process(args: argparse.Namespace) -> int:
    """``credential-process --identity NAME`` for an identity with a chain: print the last role's JSON."""
    _, output = credentials_for(args)
    sys.stdout.write(output)
    sys.stdout.flush()
    return 0


class ChainedMinter:
    """A minter whose credentials are the last role of an identity's chain.

    Wraps the minter of the first role (which keeps or reopens the key as its backend
    says) and runs the chain after every CreateSession, so ``serve``, ``update`` and the
    agent refresh the chained role exactly as they refresh a plain one.
    """

    def __init__(
        self,
        inner: Any,
        steps: list[ChainStep],
        session_options: SessionOptions,
        *,
        region: str,
        sts_endpoint: str | None,
        identity: str,
    ) -> None:
        self.inner = inner
        self.steps = steps
        self.session_options = session_options
        self.region = region
        self.sts_endpoint = sts_endpoint
        self.identity = identity

    @property
    def is_open(self) -> bool:
        """Whether the first role's signer is held open (see ``SessionMinter.is_open``)."""
        return bool(getattr(self.inner, "is_open", False))

    def open(self) -> None:
        self.inner.open()

    def mint(self) -> Credentials:
        return assume_chain(
            self.inner.mint(),
            self.steps,
            self.session_options,
            region=self.region,
            sts_endpoint=self.sts_endpoint,
            identity=self.identity,
        )

    def close(self) -> None:
        self.inner.close()


def chained(minter: Any, args: argparse.Namespace, session_options: SessionOptions) -> Any:
    """``minter`` itself, or a :class:`ChainedMinter` over it when ``--identity`` names a chain."""
    steps = chain_of(args)
    if not steps:
        return minter
    planned = getattr(minter, "planned", None)  # the minter's own plan: no second validation
    if planned is None:
        from rasign.session import plan_session

        planned = plan_session(session_options)
    target = planned.target
    return ChainedMinter(
        minter,
        steps,
        session_options,
        region=target.region,
        sts_endpoint=getattr(args, "identity_sts_endpoint", None),
        identity=getattr(args, "identity", "") or "",
    )
