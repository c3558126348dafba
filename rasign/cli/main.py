"""``rasign`` entry point: parse, dispatch to one command, turn errors into exit codes.

Only the invoked command's module is imported: ``credential-process`` runs for every AWS
CLI call, so start-up cost is a feature. Each command module exposes ``SUMMARY``,
``configure(parser)`` and ``run(args) -> int``.

Errors: a :class:`~rasign.errors.RasignError` prints ``rasign: error: <one line>`` on stderr
and exits with its class's code (docs/exit-codes.md). Anything else is a bug: one line
asking for a report, exit 70, and the traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from rasign.errors import RasignError, UsageError

COMMANDS: dict[str, tuple[str, str]] = {
    "credential-process": ("rasign.commands.credential_process", "print temporary credentials as credential_process JSON"),
    "serve": ("rasign.commands.serve", "serve credentials over an IMDSv2- or ECS-compatible endpoint"),
    "update": ("rasign.commands.update", "write credentials into the shared credentials file and keep them fresh"),
    "sign-string": ("rasign.commands.sign_string", "sign the fixed test string (checks a key works)"),
    "read-certificate-data": ("rasign.commands.read_certificate_data", "show certificate data or list matching identities"),
    "emulator": ("rasign.commands.emulator", "run a local Roles Anywhere + STS emulator (offline demos and tests)"),
    "demo": ("rasign.commands.demo", "run the end-to-end flow against the local emulator (no AWS account needed)"),
    "version": ("rasign.commands.version", "print the version"),
    "identities": ("rasign.commands.identities", "list the named identities of the identities file"),
    "exec": ("rasign.commands.exec", "run a command with credentials in its environment (or a private endpoint)"),
    "export": ("rasign.commands.export", "print credentials as sh, fish, PowerShell or JSON assignments"),
    "configure": ("rasign.commands.configure", "write [profile NAME] with credential_process into ~/.aws/config"),
    "doctor": ("rasign.commands.doctor", "check a set-up before it fails: certificate, chain, key, ARNs, endpoint"),
}

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit with the usage code."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """Root parser; only ``command``'s sub-parser gets its real flags."""
    from rasign import __version__

    root = _Parser(prog="rasign", description="Hardware-backed signer for AWS IAM Roles Anywhere.")
    root.add_argument("--version", action="version", version=__version__)
    sub = root.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, summary) in COMMANDS.items():
        parser = sub.add_parser(name, help=summary, description=summary)
        if name == command:
            module = importlib.import_module(module_name)
            module.configure(parser)
            importlib.import_module("rasign.identities").add_identity_flags(parser, name)
            parser.set_defaults(_run=module.run)
    return root


def _command_in(argv: Sequence[str]) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        parser = build_parser(_command_in(args_list))
        if not args_list:
            parser.print_help()
            return 0
        args = parser.parse_args(args_list)
        if getattr(args, "identity", None):
            from rasign.identities import apply_identity

            args = apply_identity(args, parser, lambda: parser.parse_args(args_list))
        run = getattr(args, "_run", None)
        if run is None:
            parser.print_help(sys.stderr)
            return UsageError.exit_code
        from rasign import logs

        logs.configure(debug=getattr(args, "debug", False), structured=getattr(args, "log_format", "text") == "json")
        return int(run(args) or 0)
    except RasignError as err:
        if debug:
            import traceback

            traceback.print_exc()
        _say(f"rasign: error: {err.one_line()}")
        return err.exit_code
    except KeyboardInterrupt:
        _say("rasign: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 1
    except Exception as err:  # noqa: BLE001 - the last line of defence against tracebacks
        if debug:
            import traceback

            traceback.print_exc()
        _say(f"rasign: internal error: {type(err).__name__}: {err} (rerun with --debug and report it)")
        return EXIT_INTERNAL


def _say(text: str) -> None:
    from rasign.logs import scrub

    print(scrub(" ".join(text.split())), file=sys.stderr)


ONE_SHOT = frozenset({"credential-process", "sign-string", "read-certificate-data", "version"})
"""Commands that hold nothing needing cleanup when they return."""


def run() -> None:
    """Console-script entry: exit with :func:`main`'s code.

    One-shot commands skip interpreter teardown (about 15 ms with cryptography and
    requests loaded) once their output is flushed: ``credential-process`` runs for every
    AWS CLI call. Long-running commands exit normally so their cleanup runs.
    """
    code = main()
    if _command_in(sys.argv[1:]) in ONE_SHOT:
        import os

        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:
            code = code or 1
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
