"""ARNs, regions, endpoints, durations and flags: everything checked before any key is touched."""

from __future__ import annotations

import pytest

from rasign.arns import check_duration, resolve_target, role_name
from rasign.endpoints import resolve_endpoint
from rasign.errors import ConfigError, UsageError
from rasign.session import check_instance_properties, check_session_name

TA = "arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/ta"
PR = "arn:aws:rolesanywhere:us-east-1:111122223333:profile/p"
RO = "arn:aws:iam::111122223333:role/path/Role1"


def test_target_region_from_trust_anchor():
    target = resolve_target(TA, PR, RO, None)
    assert target.region == "us-east-1"
    assert role_name(RO) == "Role1"


@pytest.mark.parametrize(
    "ta, pr, ro, message",
    [
        ("nope", PR, RO, "invalid prefix"),
        ("arn:aws:rolesanywhere", PR, RO, "not enough sections"),
        (TA, PR.replace("us-east-1", "eu-west-1"), RO, "regions don't match"),
        (TA, PR, "", "missing role ARN"),
        (TA, PR, "arn:aws:s3:::bucket", "not an IAM role ARN"),
        (PR, PR, RO, "not a Roles Anywhere trust anchor"),
        (TA, TA, RO, "not a Roles Anywhere profile"),
        (TA, PR, RO.replace("arn:aws:", "arn:aws-cn:"), "mix partitions"),
    ],
)
def test_bad_arns(ta, pr, ro, message):
    with pytest.raises(ConfigError, match=message):
        resolve_target(ta, pr, ro, None)


def test_fips_region_never_reaches_the_scope():
    target = resolve_target(TA, PR, RO, "us-east-1-fips")
    assert target.region == "us-east-1"
    assert resolve_endpoint("us-east-1-fips").host == "rolesanywhere-fips.us-east-1.amazonaws.com"


def test_region_flag_must_match_trust_anchor():
    with pytest.raises(ConfigError, match="differs"):
        resolve_target(TA, PR, RO, "eu-west-1")


@pytest.mark.parametrize(
    "region, kwargs, host",
    [
        ("us-east-1", {}, "rolesanywhere.us-east-1.amazonaws.com"),
        ("cn-north-1", {}, "rolesanywhere.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", {}, "rolesanywhere.us-gov-west-1.amazonaws.com"),
        ("us-gov-west-1", {"use_fips": True}, "rolesanywhere-fips.us-gov-west-1.amazonaws.com"),
        ("eu-west-1", {"use_dualstack": True}, "rolesanywhere.eu-west-1.api.aws"),
        ("us-east-2", {"use_fips": True, "use_dualstack": True}, "rolesanywhere-fips.us-east-2.api.aws"),
        ("cn-northwest-1", {"use_dualstack": True}, "rolesanywhere.cn-northwest-1.api.amazonwebservices.com.cn"),
        ("us-iso-east-1", {}, "rolesanywhere.us-iso-east-1.c2s.ic.gov"),
    ],
)
def test_partition_endpoints(region, kwargs, host, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_ROLESANYWHERE", raising=False)
    endpoint = resolve_endpoint(region, **kwargs)
    assert endpoint.host == host
    assert endpoint.sessions_url == f"https://{host}/sessions"


def test_fips_refused_where_absent():
    with pytest.raises(ConfigError, match="no FIPS endpoint"):
        resolve_endpoint("eu-west-1", use_fips=True)


def test_endpoint_flag_beats_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_ROLESANYWHERE", "https://env.example")
    assert resolve_endpoint("us-east-1", endpoint="https://flag.example:8443").host == "flag.example:8443"
    assert resolve_endpoint("us-east-1").host == "env.example"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert resolve_endpoint("us-east-1").host == "rolesanywhere.us-east-1.amazonaws.com"


def test_endpoint_path_prefix_is_signed():
    endpoint = resolve_endpoint("us-east-1", endpoint="https://proxy.example/ra/")
    assert endpoint.sessions_path == "/ra/sessions"
    assert endpoint.sessions_url == "https://proxy.example/ra/sessions"


@pytest.mark.parametrize("value", [10, 899, 43201, -1])
def test_duration_range(value):
    with pytest.raises(ConfigError, match="900-43200"):
        check_duration(value)


def test_session_name_rules():
    check_session_name("build-42@ci")
    for bad in ("a", "x" * 65, "has space", "semi;colon"):
        with pytest.raises(ConfigError):
            check_session_name(bad)


def test_instance_properties_limits():
    check_instance_properties({"host": "a"})
    with pytest.raises(ConfigError):
        check_instance_properties({str(i): "v" for i in range(51)})
    with pytest.raises(ConfigError):
        check_instance_properties({"k": "v" * 201})


def test_go_exclusion_message():
    import argparse

    from rasign.cli.flags import CREDENTIAL_EXCLUSIONS, check_exclusions

    args = argparse.Namespace(certificate="c", cert_selector="s", private_key=None, system_store_name=None)
    with pytest.raises(UsageError) as info:
        check_exclusions(args, CREDENTIAL_EXCLUSIONS)
    assert str(info.value) == (
        "if any flags in the group [certificate cert-selector] are set none of the others can be; "
        "[cert-selector certificate] were all set"
    )
