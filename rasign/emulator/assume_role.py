"""STS ``AssumeRole`` for the emulator: role chaining into roles of this or other accounts.

The caller has already been authenticated by :func:`rasign.emulator.sts.authenticate` (its
SigV4 signature checked with the secret the emulator issued). Here the emulator enforces
what IAM would: the target role must exist, its trust relation must name the caller's role,
an ``sts:ExternalId`` condition must match exactly, a chained session lasts at most one hour,
and a source identity, once set, is propagated and cannot be changed. Denials use STS's
own ``AccessDenied`` wording, so clients (and rasign's error hints) see what AWS would send.

Trust relations live beside the account state (keyed by it), so the core state model stays
as it is: tests call :func:`add_trusted_role`.
"""

from __future__ import annotations

import datetime as _dt
import re
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from rasign.emulator.state import (
    AccountState,
    IssuedCredentials,
    Role,
    new_access_key_id,
    new_secret_access_key,
    new_session_token,
    stable_id,
)

if TYPE_CHECKING:
    from rasign.emulator.received import ReceivedRequest
    from rasign.emulator.sts import StsCall

CHAINED_MAX_DURATION = 3600
MIN_DURATION = 900
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
_UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass
class Trust:
    """Who may assume a role: source role ARNs, and an optional external ID condition."""

    role: Role
    account_id: str
    trusted_role_arns: set[str] = field(default_factory=set)
    external_id: str | None = None


_TRUSTS: weakref.WeakKeyDictionary[AccountState, dict[str, Trust]] = weakref.WeakKeyDictionary()
_TAGS: weakref.WeakKeyDictionary[AccountState, dict[str, dict[str, str]]] = weakref.WeakKeyDictionary()


def add_trusted_role(
    state: AccountState,
    name: str,
    *,
    trusted: list[str],
    account_id: str | None = None,
    external_id: str | None = None,
    max_session_duration: int = 43200,
) -> str:
    """Create role ``name`` (in ``account_id``, default the emulator's) that ``trusted`` roles may assume."""
    account = account_id or state.account_id
    arn = f"arn:{state.partition}:iam::{account}:role/{name}"
    digest = stable_id(account, "role", name).replace("-", "").upper()
    role_id = "AROA" + "".join(c if c in _UPPER_ALNUM else "X" for c in digest)[:17]
    role = Role(arn=arn, name=name, role_id=role_id, max_session_duration=max_session_duration)
    state.roles[arn] = role
    _TRUSTS.setdefault(state, {})[arn] = Trust(
        role=role, account_id=account, trusted_role_arns=set(trusted), external_id=external_id
    )
    return arn


def session_tags(state: AccountState, access_key_id: str) -> dict[str, str]:
    """The session tags AssumeRole recorded for credentials ``access_key_id`` (tests assert on them)."""
    return dict(_TAGS.get(state, {}).get(access_key_id, {}))


def request_params(request: ReceivedRequest) -> dict[str, str]:
    """Query-protocol parameters from the query string and the form body."""
    params = dict(request.query_pairs())
    if request.body:
        params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def handle_assume_role(
    call: StsCall, request: ReceivedRequest, state: AccountState, now: _dt.datetime, request_id: str
) -> str:
    """Check the trust relation and answer with new credentials for the target role."""
    from rasign.emulator.sts import NAMESPACE, StsError

    params = request_params(request)
    caller = call.credentials
    role_arn = params.get("RoleArn", "")
    session_name = params.get("RoleSessionName", "")
    if not role_arn:
        raise StsError(
            400,
            "ValidationError",
            "1 validation error detected: Value null at 'roleArn' failed to satisfy "
            "constraint: Member must not be null",
        )
    if not _SESSION_NAME.match(session_name):
        raise StsError(
            400,
            "ValidationError",
            f"1 validation error detected: Value '{session_name}' at "
            "'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression "
            "pattern: [\\w+=,.@-]*",
        )
    denied = StsError(
        403,
        "AccessDenied",
        f"User: {caller.assumed_role_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
    )
    trust = _TRUSTS.get(state, {}).get(role_arn)
    if trust is None or caller.role_arn not in trust.trusted_role_arns:
        raise denied
    if trust.external_id is not None and params.get("ExternalId") != trust.external_id:
        raise denied
    duration = _duration(params.get("DurationSeconds"), trust.role.max_session_duration)
    source_identity = params.get("SourceIdentity") or ""
    if caller.source_identity and source_identity and source_identity != caller.source_identity:
        raise StsError(400, "InvalidParameterValue", "The source identity of a chained session cannot be changed.")
    source_identity = caller.source_identity or source_identity
    tags = _tags(params)

    issued = IssuedCredentials(
        access_key_id=new_access_key_id(),
        secret_access_key=new_secret_access_key(),
        session_token=new_session_token(),
        expiration=(now + _dt.timedelta(seconds=duration)).replace(microsecond=0),
        role_arn=role_arn,
        role_session_name=session_name,
        assumed_role_arn=f"arn:{state.partition}:sts::{trust.account_id}:assumed-role/{trust.role.name}/{session_name}",
        assumed_role_id=f"{trust.role.role_id}:{session_name}",
        source_identity=source_identity,
        certificate_serial=caller.certificate_serial,
        subject=caller.subject,
        profile_arn=caller.profile_arn,
        trust_anchor_arn=caller.trust_anchor_arn,
    )
    state.remember(issued)
    _TAGS.setdefault(state, {})[issued.access_key_id] = tags
    source = f"    <SourceIdentity>{escape(source_identity)}</SourceIdentity>\n" if source_identity else ""
    return (
        f'<AssumeRoleResponse xmlns="{NAMESPACE}">\n'
        "  <AssumeRoleResult>\n"
        f"{source}"
        "    <AssumedRoleUser>\n"
        f"      <Arn>{escape(issued.assumed_role_arn)}</Arn>\n"
        f"      <AssumedRoleId>{escape(issued.assumed_role_id)}</AssumedRoleId>\n"
        "    </AssumedRoleUser>\n"
        "    <Credentials>\n"
        f"      <AccessKeyId>{issued.access_key_id}</AccessKeyId>\n"
        f"      <SecretAccessKey>{escape(issued.secret_access_key)}</SecretAccessKey>\n"
        f"      <SessionToken>{escape(issued.session_token)}</SessionToken>\n"
        f"      <Expiration>{issued.expiration_text}</Expiration>\n"
        "    </Credentials>\n"
        f"    <PackedPolicySize>{len(tags)}</PackedPolicySize>\n"
        "  </AssumeRoleResult>\n"
        "  <ResponseMetadata>\n"
        f"    <RequestId>{escape(request_id)}</RequestId>\n"
        "  </ResponseMetadata>\n"
        "</AssumeRoleResponse>\n"
    )


def _duration(raw: str | None, role_max: int) -> int:
    from rasign.emulator.sts import StsError as error

    if raw is None or raw == "":
        return CHAINED_MAX_DURATION
    try:
        value = int(raw)
    except ValueError:
        raise error(400, "ValidationError", f"DurationSeconds {raw!r} is not a number") from None
    if value < MIN_DURATION:
        raise error(
            400,
            "ValidationError",
            "1 validation error detected: Value at 'durationSeconds' failed to "
            "satisfy constraint: Member must have value greater than or equal to 900",
        )
    if value > CHAINED_MAX_DURATION:
        raise error(
            400,
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        )
    if value > role_max:
        raise error(
            400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return value


def _tags(params: dict[str, str]) -> dict[str, str]:
    from rasign.emulator.sts import StsError as error

    tags: dict[str, str] = {}
    index = 1
    while f"Tags.member.{index}.Key" in params:
        tags[params[f"Tags.member.{index}.Key"]] = params.get(f"Tags.member.{index}.Value", "")
        index += 1
    if len(tags) > 50:
        raise error(400, "ValidationError", "at most 50 session tags are allowed")
    return tags
