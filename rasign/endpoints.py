"""Where to send CreateSession: partition-aware endpoint resolution.

Follows the SDK rules the Go helper inherits (reference-helper.md 3.2) with its quirks
fixed: ``--endpoint`` on the command line wins over environment variables, a FIPS region
string never leaks into the signing scope, and FIPS is refused where no FIPS endpoint
exists instead of producing a host that does not resolve.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from rasign.arns import strip_fips, wants_fips
from rasign.errors import ConfigError
from rasign.validate import endpoint_url


@dataclass(frozen=True)
class Partition:
    """DNS suffixes and capabilities of one AWS partition."""

    name: str
    pattern: str
    dns_suffix: str
    dualstack_suffix: str | None


PARTITIONS = (
    Partition("aws-us-gov", r"^us-gov-\w+-\d+$", "amazonaws.com", "api.aws"),
    Partition("aws-cn", r"^cn-\w+-\d+$", "amazonaws.com.cn", "api.amazonwebservices.com.cn"),
    Partition("aws-iso", r"^us-iso-\w+-\d+$", "c2s.ic.gov", None),
    Partition("aws-iso-b", r"^us-isob-\w+-\d+$", "sc2s.sgov.gov", None),
    Partition("aws-iso-e", r"^eu-isoe-\w+-\d+$", "cloud.adc-e.uk", None),
    Partition("aws-iso-f", r"^us-isof-\w+-\d+$", "csp.hci.ic.gov", None),
    Partition("aws-eusc", r"^eusc-(\w+-)+\d+$", "amazonaws.eu", None),
    Partition("aws", r"^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$", "amazonaws.com", "api.aws"),
)

FIPS_REGIONS = frozenset({"us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-gov-east-1", "us-gov-west-1"})
"""Regions with a ``rolesanywhere-fips`` endpoint (botocore endpoint data)."""


def partition_of(region: str) -> Partition:
    """The partition a region belongs to; unknown names fall back to ``aws`` as the SDKs do."""
    for partition in PARTITIONS:
        if re.match(partition.pattern, region):
            return partition
    return PARTITIONS[-1]


@dataclass(frozen=True)
class Endpoint:
    """A resolved endpoint: the URL to POST to and the host/path that get signed."""

    url: str
    host: str
    path: str

    @property
    def sessions_url(self) -> str:
        """Full URL of the CreateSession operation."""
        return f"{self.url.rstrip('/')}/sessions"

    @property
    def sessions_path(self) -> str:
        """The path actually requested, which is also the path that is signed."""
        return f"{self.path.rstrip('/')}/sessions"


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def resolve_endpoint(
    region: str,
    *,
    endpoint: str | None = None,
    use_fips: bool = False,
    use_dualstack: bool = False,
    arn_partition: str | None = None,
) -> Endpoint:
    """Pick the CreateSession endpoint.

    Order: ``endpoint`` argument, then ``AWS_ENDPOINT_URL_ROLESANYWHERE``, then
    ``AWS_ENDPOINT_URL`` (both ignored when ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``),
    then the regional endpoint of the region's partition.
    """
    use_fips = use_fips or _env_true("AWS_USE_FIPS_ENDPOINT") or wants_fips(region)
    use_dualstack = use_dualstack or _env_true("AWS_USE_DUALSTACK_ENDPOINT")
    if endpoint:
        return _custom(endpoint)
    configured = _configured_endpoint()
    if configured is not None:
        return configured
    region = strip_fips(region)
    if not region:
        raise ConfigError("Invalid Configuration: Missing Region", hint="pass --region or a trust anchor ARN")
    partition = partition_of(region)
    _check_variant(region, partition, use_fips=use_fips, use_dualstack=use_dualstack, arn_partition=arn_partition)
    service = "rolesanywhere-fips" if use_fips else "rolesanywhere"
    suffix = partition.dualstack_suffix if use_dualstack else partition.dns_suffix
    host = f"{service}.{region}.{suffix}"
    return Endpoint(url=f"https://{host}", host=host, path="")


def _configured_endpoint() -> Endpoint | None:
    """The SDKs' endpoint variables, service-specific first; none when configured endpoints are ignored."""
    if _env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        return None
    for variable in ("AWS_ENDPOINT_URL_ROLESANYWHERE", "AWS_ENDPOINT_URL"):
        if os.environ.get(variable):
            try:
                return _custom(os.environ[variable])
            except ConfigError as err:
                raise ConfigError(f"{variable}: {err.message}", hint=err.hint()) from None
    return None


def _check_variant(
    region: str, partition: Partition, *, use_fips: bool, use_dualstack: bool, arn_partition: str | None
) -> None:
    """The region's partition matches the ARNs' and offers the FIPS / dual-stack endpoint asked for."""
    if arn_partition and arn_partition != partition.name:
        raise ConfigError(
            f"region {region} is in partition {partition.name} but the ARNs are in {arn_partition}",
            hint="use ARNs and a region of the same partition",
        )
    if use_fips and region not in FIPS_REGIONS and not partition.name.startswith("aws-iso"):
        raise ConfigError(
            f"Roles Anywhere has no FIPS endpoint in {region}",
            hint="FIPS endpoints exist in " + ", ".join(sorted(FIPS_REGIONS)),
        )
    if use_dualstack and partition.dualstack_suffix is None:
        raise ConfigError(
            f"partition {partition.name} has no dual-stack endpoints", hint="drop --use-dualstack-endpoint"
        )


def _custom(base: str) -> Endpoint:
    """An endpoint override, checked by :func:`rasign.validate.endpoint_url` (the CLI's rule too)."""
    from urllib.parse import urlsplit

    url = endpoint_url(base)
    parts = urlsplit(url)
    return Endpoint(url=url, host=parts.netloc, path=parts.path)
