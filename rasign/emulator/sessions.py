"""CreateSession: turn an authenticated request into temporary credentials.

The order of checks follows what a caller can observe from AWS: malformed input is a 400
before anything else, then authentication (signature), then the resources named by the
ARNs (404 when unknown), then trust in the certificate, then the profile's rules. Each
failure is a :class:`Rejection` carrying the status and ``x-amzn-ErrorType`` code.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass
from typing import Any

from rasign.arns import role_name
from rasign.emulator.chain import validate_path
from rasign.emulator.received import ReceivedRequest
from rasign.emulator.rejection import (
    Rejection,
    access_denied,
    not_found,
    untrusted,
    validation,
)
from rasign.emulator.state import (
    MAX_DURATION,
    MIN_DURATION,
    AccountState,
    IssuedCredentials,
    Profile,
    Role,
    TrustAnchor,
    new_access_key_id,
    new_secret_access_key,
    new_session_token,
)
from rasign.emulator.verify import X509Caller, verify_x509_signature

JSON_TYPES = ("application/json", "application/x-amz-json-1.0", "application/x-amz-json-1.1")
ARN_FIELDS = ("profileArn", "roleArn", "trustAnchorArn")
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
MAX_INSTANCE_PROPERTIES = 50
MAX_PROPERTY_LENGTH = 200


@dataclass(frozen=True)
class SessionRequest:
    """The CreateSession parameters, wherever the client put them (query or body)."""

    profile_arn: str
    role_arn: str
    trust_anchor_arn: str
    duration_seconds: int | None
    role_session_name: str | None
    instance_properties: dict[str, str] | None


def parse_session_request(request: ReceivedRequest) -> SessionRequest:
    """Read the ARNs from the query or the JSON body and validate every field's shape."""
    body = _json_body(request)
    query = dict(request.query_pairs())
    arns: dict[str, str] = {}
    for name in ARN_FIELDS:
        in_query, in_body = query.get(name), body.get(name)
        if in_body is not None and not isinstance(in_body, str):
            raise validation(f"{name} must be a string")
        if in_query is not None and in_body is not None and in_query != in_body:
            raise validation(f"{name} is given both in the query string and in the body, with different values")
        value = in_query if in_query is not None else in_body
        if value is None:
            raise validation(
                f"1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
            )
        arns[name] = value
    return SessionRequest(
        profile_arn=arns["profileArn"],
        role_arn=arns["roleArn"],
        trust_anchor_arn=arns["trustAnchorArn"],
        duration_seconds=_duration(body.get("durationSeconds")),
        role_session_name=_session_name(body.get("roleSessionName")),
        instance_properties=_instance_properties(body.get("instanceProperties")),
    )


def create_session(
    request: ReceivedRequest, state: AccountState, now: _dt.datetime
) -> tuple[dict[str, Any], IssuedCredentials]:
    """Authenticate, authorise and issue credentials; returns the 201 body and the record."""
    params = parse_session_request(request)
    caller = verify_x509_signature(request, region=state.region, now=now)
    anchor, profile = _anchor_and_profile(state, params)
    _check_trust(state, caller, anchor, now)
    role = _role(state, params, profile)
    duration = _granted_duration(params, profile, role)
    credentials = _issue(state, caller, params, role, duration, now)
    return _response_body(state, caller, credentials), credentials


def _anchor_and_profile(state: AccountState, params: SessionRequest) -> tuple[TrustAnchor, Profile]:
    """Both resources exist (404 otherwise, anchor first) and are enabled (403)."""
    anchor = state.trust_anchors.get(params.trust_anchor_arn)
    if anchor is None:
        raise not_found(
            f"Trust anchor {params.trust_anchor_arn} does not exist in account {state.account_id} ({state.region})"
        )
    profile = state.profiles.get(params.profile_arn)
    if profile is None:
        raise not_found(f"Profile {params.profile_arn} does not exist in account {state.account_id} ({state.region})")
    if not anchor.enabled:
        raise access_denied("Trust anchor is disabled")
    if not profile.enabled:
        raise access_denied("Profile is disabled")
    return anchor, profile


def _check_trust(state: AccountState, caller: X509Caller, anchor: TrustAnchor, now: _dt.datetime) -> None:
    """The caller's path validates to the anchor and no certificate below the anchor is revoked."""
    path = validate_path(caller.leaf, caller.intermediates, anchor.certificates, now)
    for cert in path[:-1]:
        if state.is_revoked(cert):
            raise untrusted(f"certificate {cert.subject.rfc4514_string()} (serial {cert.serial_number}) is revoked")


def _role(state: AccountState, params: SessionRequest, profile: Profile) -> Role:
    """The role, when the profile allows it and the request respects the profile's rules."""
    if params.role_arn not in profile.role_arns:
        raise access_denied(
            f"Role {params.role_arn or '<empty>'} is not one of the roles of profile {profile.arn}",
            reason="role not allowed by the profile",
        )
    role = state.roles.get(params.role_arn)
    if role is None:
        raise access_denied(f"Unable to assume role {params.role_arn}: the role does not exist")
    if params.role_session_name is not None and not profile.accept_role_session_name:
        raise access_denied("Not authorized to set roleSessionName.")
    if profile.require_instance_properties and not params.instance_properties:
        raise validation("instanceProperties are required by this profile (requireInstanceProperties is true)")
    return role


def _granted_duration(params: SessionRequest, profile: Profile, role: Role) -> int:
    """The profile's duration, shortened by the request's; refused above the role's maximum."""
    duration = profile.duration_seconds
    if params.duration_seconds is not None:
        duration = min(duration, params.duration_seconds)
    if duration > role.max_session_duration:
        raise validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    return duration


def session_name_for_serial(serial: int) -> str:
    """The default role session name: the hex serial, lower case, padded to whole bytes."""
    text = format(abs(serial), "x")
    return text if len(text) % 2 == 0 else "0" + text


def source_identity_of(leaf: Any) -> str:
    """``CN=<cn>`` for CNs up to 61 characters, empty for longer, ``ID=<hex serial>`` without CN."""
    from cryptography.x509.oid import NameOID

    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return "ID=" + session_name_for_serial(leaf.serial_number)
    common_name = str(names[0].value)
    return f"CN={common_name}" if len(common_name) <= 61 else ""


def _issue(
    state: AccountState, caller: X509Caller, params: SessionRequest, role: Role, duration: int, now: _dt.datetime
) -> IssuedCredentials:
    session_name = params.role_session_name or session_name_for_serial(caller.leaf.serial_number)
    name = role_name(role.arn)  # without the role's path, as STS writes it
    expiration = (now + _dt.timedelta(seconds=duration)).replace(microsecond=0)
    credentials = IssuedCredentials(
        access_key_id=new_access_key_id(),
        secret_access_key=new_secret_access_key(),
        session_token=new_session_token(),
        expiration=expiration,
        role_arn=params.role_arn,
        role_session_name=session_name,
        assumed_role_arn=f"arn:{state.partition}:sts::{state.account_id}:assumed-role/{name}/{session_name}",
        assumed_role_id=f"{role.role_id}:{session_name}",
        source_identity=source_identity_of(caller.leaf),
        certificate_serial=caller.leaf.serial_number,
        subject=caller.leaf.subject.rfc4514_string(),
        profile_arn=params.profile_arn,
        trust_anchor_arn=params.trust_anchor_arn,
        instance_properties=dict(params.instance_properties or {}),
    )
    state.remember(credentials)
    return credentials


def _response_body(state: AccountState, caller: X509Caller, credentials: IssuedCredentials) -> dict[str, Any]:
    return {
        "credentialSet": [
            {
                "assumedRoleUser": {
                    "arn": credentials.assumed_role_arn,
                    "assumedRoleId": credentials.assumed_role_id,
                },
                "credentials": {
                    "accessKeyId": credentials.access_key_id,
                    "expiration": credentials.expiration_text,
                    "secretAccessKey": credentials.secret_access_key,
                    "sessionToken": credentials.session_token,
                },
                "packedPolicySize": 0,
                "roleArn": credentials.role_arn,
                "sourceIdentity": credentials.source_identity,
            }
        ],
        "subjectArn": state.subject_arn(caller.leaf.subject.rfc4514_string()),
    }


def _json_body(request: ReceivedRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    if request.content_type() not in JSON_TYPES:
        raise Rejection(
            415,
            "UnsupportedMediaTypeException",
            f"Content-Type {request.content_type() or '<none>'!r} is not supported; send application/json",
        )
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise Rejection(400, "SerializationException", f"request body is not valid JSON: {err}") from err
    if not isinstance(body, dict):
        raise Rejection(400, "SerializationException", "request body must be a JSON object")
    return body


def _duration(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejection(400, "SerializationException", "durationSeconds must be an integer")
    if value < MIN_DURATION:
        raise validation(
            f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {MIN_DURATION}"
        )
    if value > MAX_DURATION:
        raise validation(
            f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to satisfy constraint: "
            f"Member must have value less than or equal to {MAX_DURATION}"
        )
    return value


def _session_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejection(400, "SerializationException", "roleSessionName must be a string")
    if not SESSION_NAME.match(value):
        raise validation(
            f"1 validation error detected: Value '{value}' at 'roleSessionName' failed to satisfy constraint: "
            "Member must have length between 2 and 64 and match [\\w+=,.@-]*"
        )
    return value


def _instance_properties(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise Rejection(400, "SerializationException", "instanceProperties must be a map of strings to strings")
    if len(value) > MAX_INSTANCE_PROPERTIES:
        raise validation(f"instanceProperties has {len(value)} entries; at most {MAX_INSTANCE_PROPERTIES} are allowed")
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_PROPERTY_LENGTH or not 1 <= len(item) <= MAX_PROPERTY_LENGTH:
            raise validation(f"instanceProperties keys and values must be 1-{MAX_PROPERTY_LENGTH} characters long")
    return dict(value)
