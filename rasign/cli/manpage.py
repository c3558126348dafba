"""The rasign(1) man page, generated from the parser so it cannot disagree with the flags.

Run ``python -m rasign.cli.manpage [-o docs/man/rasign.1]``. The committed page is
checked against a fresh rendering by the test suite, so a flag added without regenerating
the page fails CI. The rendering is deterministic: defaults that come from environment
variables (``AWS_MAX_ATTEMPTS``, ``RASIGN_NO_PROMPT``) are rendered as if those were unset.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

from rasign.cli import helptext

_ENV_PREFIXES = ("AWS_", "RASIGN_")


@contextlib.contextmanager
def _neutral_environment() -> Iterator[None]:
    saved = {key: value for key, value in os.environ.items() if key.startswith(_ENV_PREFIXES)}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def _escape(text: str) -> str:
    """Roff-safe text: backslashes and hyphens escaped, no control line at the start."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _help_text(action: argparse.Action, formatter: argparse.HelpFormatter) -> str:
    template = formatter._get_help_string(action) or ""  # the same words and defaults as --help
    params = {**vars(action), "prog": ""}
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(choice) for choice in params["choices"])
    try:
        return " ".join((template % params).split())
    except (KeyError, TypeError, ValueError):
        return " ".join(template.split())


def _flag_heading(action: argparse.Action) -> str:
    names = ", ".join(f"\\fB{_escape(name)}\\fR" for name in action.option_strings)
    if action.nargs == 0:
        return names
    if action.choices:
        value = "|".join(str(choice) for choice in action.choices)
    else:
        value = str(action.metavar or action.dest.upper())
    return f"{names} \\fI{_escape(value)}\\fR"


def _subparsers(root: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def render(prog: str = "rasign") -> str:
    """The whole page as roff text."""
    from rasign.cli.main import COMMANDS, build_parser

    with _neutral_environment():
        root = build_parser(prog)
    out = _preamble(prog)
    for name, parser in _subparsers(root).items():
        out += _command_section(prog, name, parser, COMMANDS[name][1])
    out += _exit_status()
    out += _see_also(prog)
    return "\n".join(out)


def _preamble(prog: str) -> list[str]:
    """Title, name, synopsis and description, up to the COMMANDS heading."""
    return [
        f'.TH {prog.upper()} 1 "" "{prog}" "User Commands"',
        ".SH NAME",
        f"{_escape(prog)} \\- hardware\\-backed signer for AWS IAM Roles Anywhere",
        ".SH SYNOPSIS",
        f".B {_escape(prog)}",
        ".I COMMAND",
        "[\\fIoptions\\fR]",
        ".SH DESCRIPTION",
        _escape(
            "A drop-in replacement for AWS's aws_signing_helper (and installed under that name too): "
            "it signs IAM Roles Anywhere CreateSession requests with a key in a file, on a PKCS#11 token, "
            "in a TPM 2.0 or in a certificate store, and hands the temporary credentials to the AWS CLI "
            "and SDKs. Flags are long-form only and never abbreviated; boolean flags also take "
            "=true or =false."
        ),
        ".SH COMMANDS",
    ]


def _command_section(prog: str, name: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    """One command: synopsis, description, its flags by group, then the help table's examples and notes."""
    entry = helptext.HELP.get(name)
    out = [f'.SS "{_escape(prog)} {_escape(name)}"']
    if entry is not None and entry.synopsis:
        out += [".PP", f"\\fB{_escape(prog)} {_escape(name)}\\fR {_escape(entry.synopsis)}"]
    out += [".PP", _escape(" ".join((parser.description or summary).split()))]
    formatter = parser._get_formatter()
    for group in parser._action_groups:
        out += _group_lines(group, formatter)
    if entry is None:
        return out
    if entry.examples:
        out += [".PP", "Examples:"]
        for what, command in entry.examples:
            out += [".PP", _escape(what + ":"), ".RS", ".nf", _escape(command.format(prog=prog)), ".fi", ".RE"]
    for note in entry.notes:
        out += [".PP", _escape(" ".join(note.split()))]
    return out


def _group_lines(group: argparse._ArgumentGroup, formatter: argparse.HelpFormatter) -> list[str]:
    """A flag group's title and one tagged paragraph per visible flag (nothing for a group with none)."""
    actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS]
    if not actions:
        return []
    out = [".PP", f"\\fI{_escape(group.title or 'options')}\\fR"]
    for action in actions:
        heading = _flag_heading(action) if action.option_strings else f"\\fI{_escape(str(action.metavar))}\\fR"
        out += [".TP", heading, _escape(_help_text(action, formatter))]
    return out


def _exit_status() -> list[str]:
    """Every error class's code with its docstring's first line, then the internal and interrupt codes."""
    from rasign import errors
    from rasign.errors import EXIT_CODES

    out = [".SH EXIT STATUS", ".TP", "0", "success"]
    for class_name, code in sorted(EXIT_CODES.items(), key=lambda item: item[1]):
        doc = (getattr(errors, class_name).__doc__ or "").strip().splitlines()[0]
        out += [".TP", str(code), _escape(f"{class_name}: {doc}")]
    return out + [
        ".TP",
        "70",
        _escape("internal error (a bug): rerun with --debug and report it"),
        ".TP",
        "130",
        "interrupted",
        ".PP",
        _escape("aws_signing_helper exits 1 for every handled error, including usage errors, which exit 2 here."),
    ]


def _see_also(prog: str) -> list[str]:
    return [
        ".SH SEE ALSO",
        _escape(
            "docs/compatibility.md, docs/exit-codes.md, docs/pkcs11.md, docs/tpm.md, docs/stores.md, "
            "docs/delivery.md in the rasign sources; "
            f"{prog} help COMMAND; {prog} completion bash|zsh|fish|powershell."
        ),
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Write the page to ``-o PATH`` or stdout."""
    parser = argparse.ArgumentParser(prog="python -m rasign.cli.manpage", description=__doc__, allow_abbrev=False)
    parser.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    parser.add_argument("--prog", default="rasign", help="program name on the page (default rasign)")
    args = parser.parse_args(argv)
    page = render(args.prog)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
