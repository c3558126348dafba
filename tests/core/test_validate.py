"""rasign.validate: option values refused where they are given, with the same words in CLI and API."""

from __future__ import annotations

import argparse

import pytest

from rasign import validate
from rasign.endpoints import resolve_endpoint
from rasign.errors import ConfigError
from rasign.options import SessionOptions
from rasign.session import plan_session

TA = "arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/ta"
PR = "arn:aws:rolesanywhere:us-east-1:111122223333:profile/p"
RO = "arn:aws:iam::111122223333:role/r"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("https://[::1]:8443/", "https://[::1]:8443"),
        ("HTTP://localhost:80/base/", "http://localhost:80/base"),
        ("rolesanywhere.us-east-1.amazonaws.com", "https://rolesanywhere.us-east-1.amazonaws.com"),
        ("https://127.0.0.1:0008443", "https://127.0.0.1:8443"),
        ("https://bücher.example:8443", "https://xn--bcher-kva.example:8443"),
    ],
)
def test_good_endpoints_are_normalised(text, expected):
    assert validate.endpoint_url(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("https://127.0.0.1:99999", "outside 1-65535"),
        ("https://127.0.0.1:0", "port 0 is outside"),
        ("https://127.0.0.1:", "empty port"),
        ("https://::1:8443", "must be in brackets"),
        ("https://[::1", "Invalid IPv6 URL"),
        ("https://[::g]:1", "IPv6 address"),
        ("https://a b", "white space"),
        ("https://host\x1b[31m", "control characters"),
        ("ftp://host", "scheme 'ftp'"),
        ("https://user:pw@host", "user information"),
        ("https://host/?x=1", "query string"),
        ("https://host#frag", "fragment"),
        ("https://host:12ab", "not a number"),
        ("https://", "no host"),
        ("https://bad_label-.example", "not a valid name"),
        ("", "empty"),
    ],
)
def test_bad_endpoints_fail_in_one_line(text, fragment):
    with pytest.raises(ConfigError, match=fragment) as caught:
        validate.endpoint_url(text)
    assert "\n" not in caught.value.one_line() and "\x1b" not in caught.value.one_line()


def test_endpoint_from_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://127.0.0.1:70000")
    with pytest.raises(ConfigError, match="^AWS_ENDPOINT_URL: invalid endpoint URL"):
        resolve_endpoint("us-east-1")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "1e400", "abc", "", "7200"])
def test_bad_timeouts(value):
    with pytest.raises(ConfigError):
        validate.timeout(value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("connect_timeout", float("nan")),
        ("read_timeout", float("inf")),
        ("read_timeout", -3.0),
        ("connect_timeout", 0),
        ("max_attempts", 0),
        ("max_attempts", True),
        ("session_duration", "3600"),
        ("endpoint", "https://127.0.0.1:0"),
        ("no_verify_ssl", "yes"),
        ("role_arn", None),
    ],
)
def test_api_options_are_checked_before_anything_happens(field, value):
    values = {"trust_anchor_arn": TA, "profile_arn": PR, "role_arn": RO, field: value}
    options = SessionOptions(**values)
    with pytest.raises(ConfigError):
        plan_session(options)


@pytest.mark.parametrize(
    "arn, fragment",
    [
        (TA.replace("arn:aws:", "arn:aws-typo:"), "unknown AWS partition 'aws-typo'"),
        (TA.replace("us-east-1", "US_EAST"), "invalid region"),
        (TA + "\n", "white space or control"),
    ],
)
def test_arn_partition_and_region_are_known(arn, fragment):
    with pytest.raises(ConfigError, match=fragment):
        plan_session(SessionOptions(trust_anchor_arn=arn, profile_arn=PR, role_arn=RO))


def test_flag_wrapper_keeps_the_message_and_names_the_flag():
    parser = argparse.ArgumentParser()
    parser.add_argument("--read-timeout", type=validate.flag(validate.timeout, "--read-timeout"))
    with pytest.raises(validate.OptionValueError) as caught:
        parser.parse_args(["--read-timeout", "nan"])
    assert caught.value.exit_code == ConfigError.exit_code
    assert caught.value.one_line().startswith("--read-timeout: timeout 'nan' is not a finite number")
    with pytest.raises(ConfigError) as api:
        validate.timeout("nan")
    assert caught.value.message.endswith(api.value.message)


@pytest.mark.parametrize("value, ok", [("900", 900), ("43200", 43200), ("899", None), ("1e3", None), ("0x10", None)])
def test_session_duration(value, ok):
    if ok is None:
        with pytest.raises(ConfigError):
            validate.session_duration(value)
    else:
        assert validate.session_duration(value) == ok


def test_every_option_type_has_a_check():
    import dataclasses

    from rasign.options import SignerOptions

    for cls in (SignerOptions, SessionOptions):
        for item in dataclasses.fields(cls):
            assert str(item.type) in validate._TYPE_CHECKS, (
                f"add a type check for {item.type} ({cls.__name__}.{item.name})"
            )


@pytest.mark.parametrize(
    "signer, session",
    [
        ({"certificate": 5}, {}),
        ({"extra": {"slot": 1}}, {}),
        ({"interactive": "no"}, {}),
        ({}, {"connect_timeout": "5"}),
        ({}, {"instance_properties": {"k": 1}}),
        ({}, {"session_duration": 3600.0}),
    ],
)
def test_api_types_are_checked_before_the_key_or_network(signer, session):
    from rasign.options import SignerOptions
    from rasign.workflow import obtain_credentials

    values = {"trust_anchor_arn": TA, "profile_arn": PR, "role_arn": RO, "endpoint": "https://127.0.0.1:1", **session}
    with pytest.raises(ConfigError, match="option .* must be"):
        obtain_credentials(
            SignerOptions(**{"certificate": "c.pem", "private_key": "k.pem", **signer}), SessionOptions(**values)
        )


def test_a_mistyped_password_is_not_echoed():
    from rasign.options import SignerOptions

    with pytest.raises(ConfigError) as caught:
        validate.option_types(SignerOptions(pkcs8_password=987654321))  # type: ignore[arg-type]
    assert "987654321" not in caught.value.one_line()


def test_known_partitions_are_the_ones_endpoints_can_resolve(monkeypatch):
    from rasign.endpoints import PARTITIONS

    assert validate.PARTITION_NAMES == {partition.name for partition in PARTITIONS}
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_ROLESANYWHERE", raising=False)
    endpoint = resolve_endpoint("eusc-de-east-1", arn_partition="aws-eusc")
    assert endpoint.host == "rolesanywhere.eusc-de-east-1.amazonaws.eu"
