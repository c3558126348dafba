"""What the emulated account holds: trust anchors, profiles, roles and issued credentials.

This mirrors the Roles Anywhere resource model only as far as CreateSession and
GetCallerIdentity need it. ARNs are derived deterministically from the account, region and
resource name so that a restarted ``rasign emulator`` keeps printing the same ARNs for the
same configuration (scripts and README examples can hard-code nothing but still re-run).
"""

from __future__ import annotations

import base64
import datetime as _dt
import secrets
import string
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

_ARN_NAMESPACE = uuid.UUID("5f1c1a52-6f1e-4d7b-9a53-3f3b5d0e2a11")
_UPPER_ALNUM = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"

MIN_DURATION = 900
MAX_DURATION = 43200


def partition_of(region: str) -> str:
    """ARN partition for a region name (``aws``, ``aws-cn``, ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def stable_id(*parts: str) -> str:
    """A UUID that depends only on ``parts``, for resource ids in ARNs."""
    return str(uuid.uuid5(_ARN_NAMESPACE, "/".join(parts)))


@dataclass
class TrustAnchor:
    """A trust anchor: up to two CA certificates (the AWS quota) behind one ARN."""

    arn: str
    certificates: list[x509.Certificate]
    enabled: bool = True


@dataclass
class Profile:
    """A profile: which roles a session may assume and on what terms."""

    arn: str
    role_arns: list[str]
    duration_seconds: int = 3600
    accept_role_session_name: bool = False
    require_instance_properties: bool = False
    enabled: bool = True


@dataclass
class Role:
    """An IAM role the emulator can hand out sessions for."""

    arn: str
    name: str
    role_id: str
    max_session_duration: int = MAX_DURATION


@dataclass
class IssuedCredentials:
    """One credential set handed out by CreateSession, remembered for STS calls.

    ``repr`` leaves the secret key and token out so a failing assertion cannot print them.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: _dt.datetime
    role_arn: str
    role_session_name: str
    assumed_role_arn: str
    assumed_role_id: str
    source_identity: str
    certificate_serial: int
    subject: str
    profile_arn: str
    trust_anchor_arn: str
    instance_properties: dict[str, str] = field(default_factory=dict)

    @property
    def expiration_text(self) -> str:
        """The ``expiration`` string exactly as CreateSession returns it."""
        from rasign.credentials import rfc3339

        return rfc3339(self.expiration)


def new_access_key_id() -> str:
    """``ASIA`` plus 16 upper-case letters/digits, the shape of STS temporary keys."""
    return "ASIA" + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(16))


def new_secret_access_key() -> str:
    """40 characters from the base64 alphabet, like AWS secret keys."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def new_session_token() -> str:
    """A long opaque token (AWS tokens are several hundred base64 characters)."""
    return base64.b64encode(b"rasign-emulator:" + secrets.token_bytes(300)).decode("ascii")


class AccountState:
    """Thread-safe store of the emulated account's resources and issued credentials."""

    def __init__(self, *, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self.partition = partition_of(region)
        self._lock = threading.Lock()
        self.trust_anchors: dict[str, TrustAnchor] = {}
        self.profiles: dict[str, Profile] = {}
        self.roles: dict[str, Role] = {}
        self._issued: dict[str, IssuedCredentials] = {}
        self._issued_order: list[IssuedCredentials] = []
        self._revoked: set[tuple[bytes, int]] = set()

    # -- resources -------------------------------------------------------------------

    def add_trust_anchor(
        self, certificates: Sequence[x509.Certificate], name: str, *, arn: str | None = None
    ) -> TrustAnchor:
        """Register a trust anchor under ``arn`` or a deterministic ARN derived from ``name``."""
        arn = arn or (
            f"arn:{self.partition}:rolesanywhere:{self.region}:{self.account_id}:"
            f"trust-anchor/{stable_id(self.account_id, self.region, 'trust-anchor', name)}"
        )
        anchor = TrustAnchor(arn=arn, certificates=list(certificates))
        with self._lock:
            self.trust_anchors[arn] = anchor
        return anchor

    def add_role(self, name: str, *, max_session_duration: int = MAX_DURATION) -> Role:
        """Register an IAM role by name; its RoleId is stable for the name."""
        arn = f"arn:{self.partition}:iam::{self.account_id}:role/{name}"
        digest = stable_id(self.account_id, "role", name).replace("-", "").upper()
        role_id = "AROA" + "".join(c if c in _UPPER_ALNUM else "X" for c in digest)[:17]
        role = Role(arn=arn, name=name, role_id=role_id, max_session_duration=max_session_duration)
        with self._lock:
            self.roles[arn] = role
        return role

    def add_profile(
        self,
        name: str,
        role_arns: Sequence[str],
        *,
        duration_seconds: int = 3600,
        accept_role_session_name: bool = False,
        require_instance_properties: bool = False,
        enabled: bool = True,
        arn: str | None = None,
    ) -> Profile:
        """Register a profile under ``arn`` or a deterministic ARN derived from ``name``."""
        arn = arn or (
            f"arn:{self.partition}:rolesanywhere:{self.region}:{self.account_id}:"
            f"profile/{stable_id(self.account_id, self.region, 'profile', name)}"
        )
        profile = Profile(
            arn=arn,
            role_arns=list(role_arns),
            duration_seconds=duration_seconds,
            accept_role_session_name=accept_role_session_name,
            require_instance_properties=require_instance_properties,
            enabled=enabled,
        )
        with self._lock:
            self.profiles[arn] = profile
        return profile

    def subject_arn(self, subject: str) -> str:
        """ARN of the Roles Anywhere "subject" resource keyed by the certificate subject."""
        return (
            f"arn:{self.partition}:rolesanywhere:{self.region}:{self.account_id}:"
            f"subject/{stable_id(self.account_id, self.region, 'subject', subject)}"
        )

    def revoke(self, certificate: x509.Certificate) -> None:
        """Mark a certificate revoked, as an imported CRL would (keyed by issuer + serial)."""
        with self._lock:
            self._revoked.add((certificate.issuer.public_bytes(), certificate.serial_number))

    def is_revoked(self, certificate: x509.Certificate) -> bool:
        """True when :meth:`revoke` was called for this issuer and serial."""
        with self._lock:
            return (certificate.issuer.public_bytes(), certificate.serial_number) in self._revoked

    # -- credentials -----------------------------------------------------------------

    def remember(self, credentials: IssuedCredentials) -> None:
        """Keep credentials so STS can authenticate requests signed with them."""
        with self._lock:
            self._issued[credentials.access_key_id] = credentials
            self._issued_order.append(credentials)

    def lookup(self, access_key_id: str) -> IssuedCredentials | None:
        """Credentials issued under ``access_key_id``, or None."""
        with self._lock:
            return self._issued.get(access_key_id)

    def issued(self) -> list[IssuedCredentials]:
        """Every credential set issued so far, oldest first (a copy)."""
        with self._lock:
            return list(self._issued_order)
