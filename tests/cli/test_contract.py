"""The CLI contract against the Go helper (issue 10, item 3): parsing rules, help, names.

Most cases run ``rasign.cli.main.main`` in-process (the same code path as the console
script, minus the interpreter start); the cases about ``argv[0]`` and the shells run real
processes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from rasign.cli.main import COMMANDS, build_parser, main, program_name
from rasign.cli.parser import GO_FALSE, GO_TRUE
from tests.conftest import clean_env


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), prog="rasign")
    out, err = capsys.readouterr()
    return code, out, err


def subparsers(root: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


FULL = build_parser()
PARSERS = subparsers(FULL)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("rasign: error: "), err
    return lines[0]


# --- no prefix matching ------------------------------------------------------------------


def test_no_parser_accepts_abbreviations():
    assert FULL.allow_abbrev is False
    assert all(parser.allow_abbrev is False for parser in PARSERS.values())


def test_profile_is_not_profile_arn(capsys):
    code, out, err = run_main(capsys, "credential-process", "--profile", "X")
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert "unknown flag: --profile" in line and "--profile-arn" in line


@pytest.mark.parametrize("token", ["--cert", "--role", "--session"])
def test_other_prefixes_are_refused(capsys, token):
    code, _, err = run_main(capsys, "credential-process", token, "x")
    assert code == 2 and f"unknown flag: {token}" in one_error_line(err)


def test_single_dash_long_flag_is_refused_like_go(capsys):
    # pflag reads -debug as the shorthands -d -e -b -u -g and fails; rasign names the fix.
    code, _, err = run_main(capsys, "sign-string", "-debug")
    assert code == 2 and "did you mean --debug?" in one_error_line(err)


# --- booleans: --flag=VALUE ----------------------------------------------------------------


def _bool_flags():
    for name, parser in PARSERS.items():
        for action in parser._actions:
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                yield name, action.option_strings[0], action.dest, action.const


BOOL_FLAGS = list(_bool_flags())


def test_every_boolean_flag_is_covered():
    names = {flag for _, flag, _, _ in BOOL_FLAGS}
    assert {"--debug", "--no-verify-ssl", "--reuse-pin", "--once", "--with-proxy", "--no-tpm-key-password"} <= names


@pytest.mark.parametrize(
    ("command", "flag", "dest", "const"), BOOL_FLAGS, ids=[f"{c} {f}" for c, f, _, _ in BOOL_FLAGS]
)
def test_every_boolean_takes_true_and_false(command, flag, dest, const):
    parser = build_parser(only=command)
    positional = ["bash"] if command == "completion" else []
    assert getattr(parser.parse_known_args([command, *positional, f"{flag}=true"])[0], dest) is const
    assert getattr(parser.parse_known_args([command, *positional, f"{flag}=false"])[0], dest) is (not const)


@pytest.mark.parametrize("spelling", sorted(GO_TRUE | GO_FALSE))
def test_go_bool_spellings(spelling):
    parser = build_parser(only="credential-process")
    args, extras = parser.parse_known_args(["credential-process", f"--debug={spelling}"])
    assert args.debug is (spelling in GO_TRUE) and extras == []


def test_last_occurrence_wins():
    parser = build_parser(only="credential-process")
    assert parser.parse_known_args(["credential-process", "--debug", "--debug=false"])[0].debug is False
    assert parser.parse_known_args(["credential-process", "--debug=false", "--debug"])[0].debug is True
    assert parser.parse_known_args(["credential-process", "--no-cache=false"])[0].cache is True
    assert parser.parse_known_args(["credential-process", "--cache", "--no-cache"])[0].cache is False


def test_flag_values_that_look_like_booleans_are_values():
    args = build_parser(only="credential-process").parse_known_args(
        ["credential-process", "--role-session-name=--debug=false"]
    )[0]
    assert args.role_session_name == "--debug=false" and args.debug is False


def test_bad_boolean_value(capsys):
    code, _, err = run_main(capsys, "sign-string", "--debug=yes")
    line = one_error_line(err)
    assert code == 2 and 'invalid argument "yes" for "--debug" flag' in line and "--debug=false" in line


# --- extra positional arguments ------------------------------------------------------------


def test_extra_positional_arguments_are_ignored_with_a_warning(capsys):
    from rasign import __version__

    code, out, err = run_main(capsys, "version", "extra", "words")
    assert code == 0 and out == f"{__version__}\n"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rasign: warning: ignoring extra argument(s) 'extra' 'words'")


def test_go_style_debug_false_positional(capsys, tmp_path):
    # `--debug false` in Go: debug on, "false" ignored. Same here, with the warning.
    code, _, err = run_main(capsys, "sign-string", "--debug", "false", "--certificate", str(tmp_path / "none.pem"))
    assert code == 4
    assert err.splitlines()[0].startswith("rasign: warning: ignoring extra argument(s) 'false'")


def test_unknown_command(capsys):
    code, _, err = run_main(capsys, "credentials-process")
    line = one_error_line(err)
    assert code == 2 and 'unknown command "credentials-process" for "rasign"' in line
    assert "did you mean credential-process?" in line


# --- help ----------------------------------------------------------------------------------


def test_help_command_equals_flag_help(capsys):
    assert run_main(capsys, "help", "sign-string")[:2] == run_main(capsys, "sign-string", "--help")[:2]
    code, out, _ = run_main(capsys, "help")
    assert code == 0 and "credential-process" in out and "completion" in out
    code, _, err = run_main(capsys, "help", "nope")
    assert code == 2 and 'unknown help topic "nope"' in one_error_line(err)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_has_examples(capsys, command):
    code, out, _ = run_main(capsys, command, "--help")
    assert code == 0 and "examples:" in out
    assert out.startswith(f"usage: rasign {command}")


def test_help_shows_only_groups_that_apply(capsys):
    out = run_main(capsys, "help", "read-certificate-data")[1]
    for absent in ("TPM", "--tpm-key-password", "--private-key", "--reuse-pin", "--intermediates"):
        assert absent not in out
    assert "--certificate" in out and "--cert-selector" in out and "--pkcs11-lib" in out
    code, _, err = run_main(capsys, "read-certificate-data", "--tpm-key-password", "x")
    assert code == 2 and "unknown flag: --tpm-key-password" in err
    assert "--intermediates" not in run_main(capsys, "help", "sign-string")[1]


def test_help_marks_required_and_shows_defaults(capsys):
    out = " ".join(run_main(capsys, "help", "credential-process")[1].split())
    for arn in ("--role-arn", "--profile-arn", "--trust-anchor-arn"):
        assert f"{arn} ARN" in out
    assert out.count("(required)") == 3
    signing = " ".join(run_main(capsys, "help", "sign-string")[1].split())
    assert "(default: json)" in signing and "(default: SHA256)" in signing


# --- the program name follows argv[0] ------------------------------------------------------


@pytest.mark.parametrize(
    ("argv0", "name"),
    [
        ("/usr/bin/aws_signing_helper", "aws_signing_helper"),
        ("C:\\bin\\aws_signing_helper.exe", "aws_signing_helper"),
        ("/x/rasign/__main__.py", "rasign"),
        ("-c", "rasign"),
        ("/usr/local/bin/rasign", "rasign"),
    ],
)
def test_program_name(argv0, name):
    if "\\" in argv0 and os.sep != "\\":
        argv0 = argv0.replace("\\", "/")
    assert program_name(argv0) == name


def test_installed_as_aws_signing_helper(tmp_path):
    script = tmp_path / "aws_signing_helper"
    script.write_text(f"#!{sys.executable}\nfrom rasign.cli.main import run\nrun()\n")
    script.chmod(0o755)
    env = clean_env()
    bad = subprocess.run(
        [str(script), "credential-process", "--bogus"], capture_output=True, text=True, env=env, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("aws_signing_helper: error: unknown flag: --bogus")
    assert "'aws_signing_helper credential-process --help'" in bad.stderr
    usage = subprocess.run([str(script), "help", "serve"], capture_output=True, text=True, env=env, timeout=60)
    assert usage.stdout.startswith("usage: aws_signing_helper serve ")
    assert "  aws_signing_helper serve --certificate" in usage.stdout


# --- the user guide's --pkcs11-pin -----------------------------------------------------------


def test_pkcs11_pin_alias_becomes_pin_value():
    from rasign.cli.main import _apply_pin_alias

    parser = build_parser(only="sign-string")
    args = parser.parse_known_args(["sign-string", "--certificate", "pkcs11:token=a;object=k", "--pkcs11-pin", "1&2"])[
        0
    ]
    _apply_pin_alias(args)
    assert args.certificate == "pkcs11:token=a;object=k?pin-value=1%262"
    kept = parser.parse_known_args(
        ["sign-string", "--certificate", "pkcs11:token=a?pin-source=file:/p", "--pkcs11-pin", "9"]
    )[0]
    _apply_pin_alias(kept)
    assert kept.certificate == "pkcs11:token=a?pin-source=file:/p"


def test_pkcs11_pin_alias_needs_a_uri(capsys, tmp_path):
    code, _, err = run_main(capsys, "sign-string", "--certificate", str(tmp_path / "c.pem"), "--pkcs11-pin", "1234")
    assert code == 2 and "--pkcs11-pin needs a pkcs11: URI" in err
    assert "1234" not in err


@pytest.mark.softhsm
def test_pkcs11_pin_alias_signs_on_softhsm(hsm):
    from tests.conftest import run_rasign

    uri = "pkcs11:token=rasign-a;object=ec-p256"
    env = {**hsm.env, "RASIGN_NO_SECRET_WARNING": ""}
    done = run_rasign(
        "sign-string",
        "--pkcs11-lib",
        hsm.module,
        "--certificate",
        uri,
        "--pkcs11-pin",
        hsm.pin("rasign-a"),
        "--format",
        "text",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert len(bytes.fromhex(done.stdout)) > 8
    assert "--pkcs11-pin on the command line" in done.stderr and hsm.pin("rasign-a") not in done.stderr
    wrong = run_rasign(
        "sign-string",
        "--pkcs11-lib",
        hsm.module,
        "--certificate",
        uri,
        "--pkcs11-pin",
        "999999",
        "--format",
        "text",
        env=env,
    )
    assert wrong.returncode == 6 and "999999" not in wrong.stderr


def test_exclusions_come_before_file_checks(capsys):
    # cobra refuses the combination at parse time, before anything looks at the files.
    code, _, err = run_main(capsys, "credential-process", "--certificate", "missing.pem", "--cert-selector", "x")
    assert code == 2 and "if any flags in the group [certificate cert-selector]" in one_error_line(err)


def test_relative_ca_bundle_is_a_config_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, "credential-process", "--ca-bundle", "ca.pem")
    assert code == 3 and "--ca-bundle ca.pem does not exist in the current directory" in one_error_line(err)


def test_control_characters_in_argv_do_not_reach_the_terminal(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(capsys, "sign-string", "--certificate", "evil\x1b]0;owned\x07.pem")
    line = one_error_line(err)
    assert code == 4 and "\x1b" not in err and "\x07" not in err and "evil?]0;owned?.pem" in line


def _examples():
    import re

    from rasign.cli.helptext import HELP

    for name, entry in HELP.items():
        if name not in COMMANDS:  # an entry written ahead of its command's merge
            continue
        for index, (_, command) in enumerate(entry.examples):
            line = command.format(prog="rasign").replace("\\\n", " ")
            line = re.split(r"\)|>", line.split("rasign ", 1)[1])[0]
            yield pytest.param(name, line, id=f"{name}-{index}")


@pytest.mark.parametrize(("command", "line"), list(_examples()))
def test_every_help_example_parses(command, line):
    import shlex

    tokens = shlex.split(line)
    assert tokens[0] == command
    args, extras = build_parser(only=command).parse_known_args(tokens)
    assert extras == [] and args._run is not None


def test_boolean_after_a_flag_with_an_optional_value():
    from rasign.cli.parser import CliParser

    parser = CliParser(prog="t")  # like demo's --keep [DIR]
    parser.add_argument("--keep", nargs="?", const="", default=None)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_known_args(["--keep", "--debug=false"])[0]
    assert args.keep == "" and args.debug is False
    args = parser.parse_known_args(["--keep", "dir", "--debug=t"])[0]
    assert args.keep == "dir" and args.debug is True


def test_build_parser_keeps_the_old_one_command_call():
    parser = build_parser("credential-process")  # the signature before issue 10
    assert parser.prog == "rasign"
    assert "--role-arn" in subparsers(parser)["credential-process"]._option_string_actions
    assert "--port" not in subparsers(parser)["serve"]._option_string_actions  # serve left unconfigured
