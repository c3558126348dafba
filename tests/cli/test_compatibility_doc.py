"""docs/compatibility.md stays true: its parity table matches the parser, and it is complete.

GO_FLAGS is the Go helper's flag set per command (aws_signing_helper 1.8.0, cmd/*.go), the
contract rasign promises to accept.
"""

from __future__ import annotations

import argparse
import re

import pytest

from rasign.cli.main import COMMANDS, build_parser
from tests.conftest import REPO

DOC = (REPO / "docs" / "compatibility.md").read_text(encoding="utf-8")

_SHARED = {
    "--role-arn",
    "--profile-arn",
    "--trust-anchor-arn",
    "--session-duration",
    "--region",
    "--endpoint",
    "--no-verify-ssl",
    "--with-proxy",
    "--debug",
    "--certificate",
    "--private-key",
    "--intermediates",
    "--cert-selector",
    "--system-store-name",
    "--use-latest-expiring-certificate",
    "--pkcs11-lib",
    "--reuse-pin",
    "--tpm-key-password",
    "--no-tpm-key-password",
    "--role-session-name",
    "--pkcs8-password",
}
GO_FLAGS: dict[str, set[str]] = {
    "credential-process": _SHARED,
    "serve": _SHARED | {"--port", "--hop-limit"},
    "update": _SHARED | {"--profile", "--once"},
    "sign-string": {
        "--certificate",
        "--private-key",
        "--debug",
        "--cert-selector",
        "--system-store-name",
        "--use-latest-expiring-certificate",
        "--pkcs11-lib",
        "--reuse-pin",
        "--tpm-key-password",
        "--no-tpm-key-password",
        "--pkcs8-password",
        "--format",
        "--digest",
    },
    "read-certificate-data": {"--certificate", "--cert-selector", "--system-store-name", "--pkcs11-lib", "--debug"},
    "version": set(),
}
GO_COMMANDS = {*GO_FLAGS, "help", "completion"}

ROOT = build_parser()
PARSERS = dict(next(a for a in ROOT._actions if isinstance(a, argparse._SubParsersAction)).choices)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def _section(title: str) -> list[list[str]]:
    body = DOC.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [_cells(line) for line in body.splitlines() if line.startswith("| ")]
    return [row for row in rows[1:] if not set(row[0]) <= {"-", " "}]


FLAG_ROWS = _section("Flags")


def test_flag_table_lists_every_go_flag():
    listed = {(command, row[1].strip("`")) for row in FLAG_ROWS for command in re.findall(r"`([a-z-]+)`", row[0])}
    expected = {(command, flag) for command, flags in GO_FLAGS.items() for flag in flags}
    assert expected - listed == set()
    assert listed - expected == set()


@pytest.mark.parametrize("row", FLAG_ROWS, ids=[row[1] for row in FLAG_ROWS])
def test_every_flag_in_the_table_is_accepted(row):
    flag = row[1].strip("`")
    with_pkcs11 = [c for c, p in PARSERS.items() if "--pkcs11-pin-file" in p._option_string_actions]
    commands = re.findall(r"`([a-z-]+)`", row[0]) or with_pkcs11
    for command in commands:
        assert flag in PARSERS[command]._option_string_actions, (command, flag)


def test_every_go_command_is_in_the_commands_table():
    named = {word for row in _section("Commands") for word in re.findall(r"`([a-z-]+)", row[0])}
    assert GO_COMMANDS <= named
    assert GO_COMMANDS <= set(COMMANDS)


def test_every_rasign_flag_is_named_on_the_page():
    named = set(re.findall(r"`(--[a-z0-9-]+)", DOC)) | set(re.findall(r"\((--[a-z0-9-]+)\)", DOC))
    missing = sorted(
        {option for parser in PARSERS.values() for option in parser._option_string_actions if option.startswith("--")}
        - named
        - {"--help"}
    )
    assert missing == [], "document these flags in docs/compatibility.md (Additions or the parity table)"


def test_flags_refused_where_go_refuses_them():
    for flag in ("--private-key", "--tpm-key-password", "--reuse-pin", "--intermediates"):
        assert flag not in PARSERS["read-certificate-data"]._option_string_actions
    for flag in ("--intermediates", "--role-arn"):
        assert flag not in PARSERS["sign-string"]._option_string_actions
