"""One options model: flags, their mapping back, the cache key and the exclusions come from one place.

The CLI's signer and session flags are generated from the fields of
:class:`~rasign.options.SignerOptions` and :class:`~rasign.options.SessionOptions`, the Go
helper's exclusive pairs are declared once with the commands that apply them, the forced
backend is a signer option, and the session inputs are validated exactly once per command.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from rasign import cache
from rasign.cli import flags
from rasign.cli.main import GO_EXCLUSION_COMMANDS, _subparser, build_parser, main
from rasign.cli.parser import CliParser
from rasign.errors import UsageError
from rasign.options import IGNORE, KEY, SessionOptions, SignerOptions, option
from tests.support.flags import emulator_args, emulator_options

TA = "arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/ta"
PR = "arn:aws:rolesanywhere:us-east-1:111122223333:profile/p"
RO = "arn:aws:iam::111122223333:role/r"


@dataclasses.dataclass
class WiderSignerOptions(SignerOptions):
    """SignerOptions plus one new option, declared as nothing but a field."""

    token_label: str | None = option(
        cache=KEY,
        flag=("--token-label", "--label"),
        metavar="LABEL",
        help="label of the token to use",
        group="PKCS#11",
    )
    touch_policy: bool = option(
        False, cache=IGNORE, flag="--touch-policy", maps="true", help="wait for a touch", group="PKCS#11"
    )


def test_one_field_is_enough_for_a_new_signer_option(tmp_path):
    parser = CliParser(prog="rasign")
    flags.add_option_flags(parser, WiderSignerOptions)
    assert "--token-label" in parser.format_help() and "label of the token to use" in parser.format_help()

    cert = tmp_path / "cert.pem"
    cert.write_bytes(b"certificate bytes")
    argv = ["--certificate", str(cert), "--label", "prod", "--touch-policy=true"]
    options = flags.options_from_args(WiderSignerOptions, parser.parse_args(argv))
    assert (options.token_label, options.touch_policy, options.certificate) == ("prod", True, str(cert))

    session = SessionOptions(trust_anchor_arn=TA, profile_arn=PR, role_arn=RO)
    other_label = dataclasses.replace(options, token_label="test")
    other_touch = dataclasses.replace(options, touch_policy=False)
    key = cache.cache_key(options, session)
    assert key is not None
    assert cache.cache_key(other_label, session) != key  # KEY: a different token is a different identity
    assert cache.cache_key(other_touch, session) == key  # IGNORE: how, not which


def test_generated_groups_keep_the_declared_order():
    parser = CliParser(prog="rasign")
    flags.add_signer_flags(parser)
    titles = [group.title for group in parser._action_groups][2:]
    assert titles == ["certificate and key", "certificate stores", "PKCS#11", "TPM 2.0"]
    first = next(group for group in parser._action_groups if group.title == "certificate and key")
    assert [action.option_strings[0] for action in first._group_actions] == [
        "--certificate",
        "--private-key",
        "--intermediates",
        "--pkcs8-password",
        "--backend",
        "--backend-option",
        "--no-prompt",
    ]


def _parsed(*argv: str):
    parser = build_parser(only="credential-process")
    return parser.parse_known_args(["credential-process", *argv])[0]


def test_mapping_kinds_inverted_pairs_and_blank():
    args = _parsed("--no-prompt", "--backend-option", "slot=2", "--role-session-name", "", "--backend", "pkcs11")
    signer, session = flags.signer_options(args), flags.session_options(args)
    assert signer.interactive is False and signer.extra == {"slot": "2"} and signer.backend == "pkcs11"
    assert session.role_session_name is None and session.instance_properties == {}
    with pytest.raises(UsageError, match=r"--instance-property expects KEY=VALUE, got 'novalue'"):
        flags.session_options(_parsed("--instance-property", "novalue"))


def test_environment_defaults(monkeypatch):
    monkeypatch.setenv("RASIGN_NO_PROMPT", "yes")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")
    args = _parsed()
    assert flags.signer_options(args).interactive is False and flags.session_options(args).max_attempts == 7
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "0")
    with pytest.raises(UsageError, match="^--max-attempts must be at least 1$"):
        flags.session_options(_parsed())


def test_forced_backend_is_a_signer_option_in_the_cache_key(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_bytes(b"certificate bytes")
    session = SessionOptions(trust_anchor_arn=TA, profile_arn=PR, role_arn=RO)
    chosen = flags.signer_options(_parsed("--certificate", str(cert)))
    forced = flags.signer_options(_parsed("--certificate", str(cert), "--backend", "store"))
    assert chosen.backend is None and forced.backend == "store"
    assert cache.cache_key(chosen, session) != cache.cache_key(forced, session)


def test_exclusions_are_declared_once_per_pair():
    pairs = [(first, second) for first, second, _ in flags.EXCLUSIVE_PAIRS]
    assert len(pairs) == len(set(pairs)) == 16
    assert len(flags.CREDENTIAL_EXCLUSIONS) == 15 and len(flags.SIGN_STRING_EXCLUSIONS) == 14
    assert flags.READ_CERTIFICATE_EXCLUSIONS == (("certificate", "cert-selector"), ("certificate", "system-store-name"))
    assert flags.exclusions_for("exec") == ()
    declared = frozenset().union(*(commands for _, _, commands in flags.EXCLUSIVE_PAIRS))
    assert declared == GO_EXCLUSION_COMMANDS  # main checks these at parse time without importing flags
    for command in ("credential-process", "serve", "update", "sign-string", "read-certificate-data"):
        known = _subparser(build_parser(only=command), command)._option_string_actions
        for first, second in flags.exclusions_for(command):
            assert f"--{first}" in known and f"--{second}" in known, (command, first, second)


def test_session_client_takes_a_planned_session():
    from rasign.session import PlannedSession, SessionClient, plan_session

    options = SessionOptions(trust_anchor_arn=TA, profile_arn=PR, role_arn=RO)
    with pytest.raises(TypeError, match="takes the PlannedSession that plan_session"):
        SessionClient(object(), options)  # type: ignore[arg-type]
    planned = plan_session(options)
    assert isinstance(planned, PlannedSession) and planned.target.region == "us-east-1"
    client = SessionClient(object(), planned)  # type: ignore[arg-type]
    assert client.endpoint == planned.endpoint and client.options is options


def test_credential_process_validates_the_session_once(emulator, pki, tmp_path, monkeypatch, capsys):
    import rasign.session

    cert, key = pki.software_identity(stem="plan-once")
    calls = []
    real = rasign.session.plan_session

    def counting(options):
        calls.append(options)
        return real(options)

    monkeypatch.setattr(rasign.session, "plan_session", counting)
    monkeypatch.setenv("RASIGN_CACHE_DIR", str(tmp_path / "cache"))
    code = main(
        [
            "credential-process",
            "--certificate",
            str(cert),
            "--private-key",
            str(key),
            "--no-agent",
            "--no-cache",
            *emulator_args(emulator),
        ],
        prog="rasign",
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["Version"] == 1
    assert len(calls) == 1


ROLE_ARN_CASES = [
    ("bogus", "failed to parse role arn: 'arn: invalid prefix' ('bogus')"),
    ("arn:aws:iam::111122223333", "failed to parse role arn: 'arn: not enough sections'"),
]


def _bad_role_run(pki, capsys, command: str, role_arn: str) -> tuple[int, str]:
    cert, key = pki.software_identity(stem="bad-role")
    argv = [command, "--certificate", str(cert), "--private-key", str(key), "--role-arn", role_arn]
    argv += ["--trust-anchor-arn", TA, "--profile-arn", PR, "--endpoint", "https://127.0.0.1:9"]
    code = main(argv, prog="rasign")
    return code, capsys.readouterr().err


@pytest.mark.parametrize("role_arn, message", ROLE_ARN_CASES)
def test_serve_and_credential_process_refuse_a_bad_role_arn_alike(pki, capsys, role_arn, message):
    served = _bad_role_run(pki, capsys, "serve", role_arn)
    printed = _bad_role_run(pki, capsys, "credential-process", role_arn)
    assert served[0] == printed[0] == 3
    assert message in served[1] and message in printed[1]


@pytest.mark.parametrize(
    "role_arn, message",
    [
        *ROLE_ARN_CASES,
        ("arn:aws:iam::111122223333:user/me", "is not an IAM role ARN"),
        ("arn:aws:iam::1:role/", "empty"),
    ],
)
def test_serve_names_its_role_with_the_one_arn_parser(pki, capsys, role_arn, message):
    from rasign.arns import role_name
    from rasign.errors import ConfigError

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        role_name(role_arn)
    code, err = _bad_role_run(pki, capsys, "serve", role_arn)
    assert code == 3 and message in err
    assert role_name("arn:aws:iam::111122223333:role/path/app") == "app"


def test_every_option_is_an_identity_key_with_the_right_kind():
    from rasign import identities

    for options_class in (SignerOptions, SessionOptions):
        for item in dataclasses.fields(options_class):
            key = item.metadata["flag"].names[0].lstrip("-")
            assert key in identities.FLAG_KEYS, key
    assert identities.FLAG_KEYS["private-key"] == ("keypath", "private_key")
    assert identities.FLAG_KEYS["no-prompt"] == ("bool", "no_prompt")
    assert identities.FLAG_KEYS["session-duration"] == ("int", "session_duration")
    assert identities.SECRET_KEYS == {"pkcs8-password", "tpm-key-password", "tpm-parent-password"}
    found = identities.Identity(
        name="x", path="f", line=1, values={"no-prompt": True, "backend-option": {"slot": "2"}, "backend": "pkcs11"}
    )
    assert identities.api_options(found) == {"interactive": False, "extra": {"slot": "2"}, "backend": "pkcs11"}


def test_a_low_environment_default_is_reported_before_a_malformed_pair(monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "0")
    with pytest.raises(UsageError, match="^--max-attempts must be at least 1$"):
        flags.session_options(_parsed("--instance-property", "novalue"))


def test_doctor_plans_the_session_once_for_all_its_checks(emulator, pki, monkeypatch):
    import rasign.session
    from rasign.doctor import run_checks

    cert, key = pki.software_identity(stem="doctor-once")
    session = SessionOptions(
        **emulator_options(emulator),
    )
    calls = []
    real = rasign.session.plan_session
    monkeypatch.setattr(rasign.session, "plan_session", lambda options: calls.append(options) or real(options))
    results = run_checks(SignerOptions(certificate=str(cert), private_key=str(key)), session, live=True)
    assert {check.name for check in results} >= {"arns", "live"}
    assert [check for check in results if check.status == "fail"] == []
    assert len(calls) == 1


def test_the_python_api_forces_a_backend_as_an_ordinary_option(pki):
    from rasign.api import RolesAnywhereCredentialProvider, build_options

    signer, _ = build_options(backend="store", cert_selector="Key=x509Subject,Value=CN=x")
    assert signer.backend == "store"
    cert, key = pki.software_identity(stem="api-backend")
    provider = RolesAnywhereCredentialProvider(
        certificate=str(cert), private_key=str(key), backend="file", trust_anchor_arn=TA, profile_arn=PR, role_arn=RO
    )
    assert provider.signer_options.backend == "file" and provider.planned.target.region == "us-east-1"
    with pytest.raises(UsageError, match="unknown key backend 'nonesuch'"):
        RolesAnywhereCredentialProvider(
            certificate=str(cert),
            private_key=str(key),
            backend="nonesuch",
            trust_anchor_arn=TA,
            profile_arn=PR,
            role_arn=RO,
        )


def test_the_refresh_group_is_generated_from_the_refresh_settings_fields():
    import argparse
    import dataclasses

    from rasign.cli.flags import add_refresh_flags
    from rasign.options import flag_of
    from rasign.refresh import RefreshSettings, settings_from_args

    parser = argparse.ArgumentParser()
    add_refresh_flags(parser)
    declared = {flag_of(item).names[0] for item in dataclasses.fields(RefreshSettings)}
    assert {action.option_strings[0] for action in parser._actions if action.option_strings[:1] != ["-h"]} == declared
    parsed = settings_from_args(parser.parse_args(["--refresh-ahead", "60", "--max-backoff", "30"]))
    assert parsed == RefreshSettings(refresh_ahead=60.0, min_refresh_interval=10.0, max_backoff=30.0)
