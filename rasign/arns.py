"""ARNs and the region/partition they imply, checked before anything is signed.

The Go helper parses the ARNs only after it has built the signer (so a user types a PIN
before learning the ARN is wrong) and lets an empty role ARN reach the server. rasign
checks everything here first; the messages keep the Go helper's wording where it has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rasign.errors import ConfigError
from rasign.textsafe import clean
from rasign.validate import partition as check_partition
from rasign.validate import printable
from rasign.validate import region as check_region

DURATION_MIN = 900
DURATION_MAX = 43200


@dataclass(frozen=True)
class Arn:
    """The six parts of an Amazon Resource Name."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: str, what: str) -> Arn:
    """Parse ``text`` or raise ConfigError in the Go helper's words (``failed to parse ...``).

    The partition must be a known one: an ARN in ``arn:aws-typo:`` is refused here rather
    than sent to the network.
    """
    if not text:
        raise ConfigError(f"missing {what} ARN", hint=f"pass --{what.replace(' ', '-')}-arn")
    printable(text, f"{what} ARN")
    shown = repr(clean(text, 120))
    if not text.startswith("arn:"):
        raise ConfigError(f"failed to parse {what} arn: 'arn: invalid prefix' ({shown})", hint="ARNs start with 'arn:'")
    arn = split_arn(text)
    if arn is None:
        raise ConfigError(
            f"failed to parse {what} arn: 'arn: not enough sections' ({shown})",
            hint="an ARN has the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE",
        )
    check_partition(arn.partition, text)
    if arn.region:
        check_region(arn.region)
    return arn


def split_arn(text: str) -> Arn | None:
    """The six sections of ``text``, or None when it is not ``arn:`` plus six sections.

    Syntax only: :func:`parse_arn` adds the checks (known partition, region name) and the Go
    helper's error texts. Readers that report a bad ARN in their own words (the identities
    file names the line) use this, so there is one way to split an ARN.
    """
    parts = text.split(":", 5) if isinstance(text, str) else []
    if len(parts) < 6 or parts[0] != "arn":
        return None
    return Arn(partition=parts[1], service=parts[2], region=parts[3], account=parts[4], resource=parts[5])


def is_arn_of(text: str, service: str, resource_prefix: str) -> bool:
    """True when :func:`parse_arn` accepts ``text`` and it names ``service`` with a resource under the prefix.

    For checks that report in their own words, such as the identities file naming the line:
    they then accept exactly the ARNs the commands accept, no more, no less.
    """
    try:
        arn = parse_arn(text, "")
    except ConfigError:
        return False
    return arn.service == service and arn.resource.startswith(resource_prefix)


@dataclass(frozen=True)
class Target:
    """The validated trio of ARNs plus the signing region."""

    trust_anchor: Arn
    profile: Arn
    role: Arn
    region: str


def resolve_target(trust_anchor_arn: str, profile_arn: str, role_arn: str, region: str | None) -> Target:
    """Check the three ARNs agree with each other and choose the region to sign for."""
    if region is not None:
        check_region(region)
    anchor = parse_arn(trust_anchor_arn, "trust anchor")
    profile = parse_arn(profile_arn, "profile")
    role = parse_arn(role_arn, "role")
    if anchor.service != "rolesanywhere" or not anchor.resource.startswith("trust-anchor/"):
        raise ConfigError(
            f"{clean(trust_anchor_arn, 120)!r} is not a Roles Anywhere trust anchor ARN",
            hint="expected arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID",
        )
    if profile.service != "rolesanywhere" or not profile.resource.startswith("profile/"):
        raise ConfigError(
            f"{clean(profile_arn, 120)!r} is not a Roles Anywhere profile ARN",
            hint="expected arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID",
        )
    if role.service != "iam" or not role.resource.startswith("role/"):
        raise ConfigError(
            f"{clean(role_arn, 120)!r} is not an IAM role ARN", hint="expected arn:aws:iam::ACCOUNT:role/NAME"
        )
    if anchor.region != profile.region:
        raise ConfigError(
            f"trust anchor and profile regions don't match ({anchor.region} vs {profile.region})",
            hint="use the trust anchor and profile of the same region",
        )
    if not anchor.region:
        raise ConfigError("the trust anchor ARN has no region", hint="copy the ARN from the Roles Anywhere console")
    if len({anchor.partition, profile.partition, role.partition}) != 1:
        raise ConfigError(
            f"ARNs mix partitions ({anchor.partition}, {profile.partition}, {role.partition})",
            hint="trust anchor, profile and role must live in the same AWS partition",
        )
    signing_region = strip_fips(region) if region else anchor.region
    if region and strip_fips(region) != anchor.region:
        raise ConfigError(
            f"--region {region} differs from the trust anchor's region {anchor.region}",
            hint="Roles Anywhere only accepts requests in the trust anchor's region; drop --region",
        )
    return Target(trust_anchor=anchor, profile=profile, role=role, region=signing_region)


def strip_fips(region: str) -> str:
    """``us-gov-west-1-fips`` / ``fips-us-east-1`` -> the real region (never sign the fips form)."""
    return region.replace("fips-", "").replace("-fips", "")


def wants_fips(region: str | None) -> bool:
    """True when the region string itself asks for a FIPS endpoint, as the SDKs read it."""
    return bool(region) and ("fips-" in region or "-fips" in region)  # type: ignore[operator]


def check_duration(seconds: int) -> int:
    """Session duration must be 900-43200 seconds (the service's limits)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise ConfigError(
            f"session duration must be a whole number of seconds, not {type(seconds).__name__}",
            hint="pass --session-duration between 900 and 43200",
        )
    if not DURATION_MIN <= seconds <= DURATION_MAX:
        raise ConfigError(
            f"session duration {seconds} is outside {DURATION_MIN}-{DURATION_MAX} seconds",
            hint="pass --session-duration between 900 and 43200 (the profile's limit also applies)",
        )
    return seconds


def role_name(role_arn: str) -> str:
    """Last path element of an IAM role ARN (what IMDS lists as the role name).

    Parsed by :func:`parse_arn`, so a bad ARN fails as in ``credential-process`` (ConfigError,
    exit 3); an ARN of something that is not a role, or a role without a name, is refused too.
    """
    arn = parse_arn(role_arn, "role")
    hint = "expected arn:aws:iam::ACCOUNT:role/NAME"
    if arn.service != "iam" or not arn.resource.startswith("role/"):
        raise ConfigError(f"{role_arn!r} is not an IAM role ARN", hint=hint)
    name = arn.resource.rsplit("/", 1)[-1]
    if not name:
        raise ConfigError(f"invalid role ARN {role_arn!r}: empty role name", hint=hint)
    return name
