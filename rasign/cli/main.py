"""``rasign`` entry point: parse, dispatch to one command, turn errors into exit codes.

Only the invoked command's module is imported: ``credential-process`` runs for every AWS
CLI call, so start-up cost is a feature. Each command module exposes ``configure(parser)``
and ``run(args) -> int``; its summary line is kept in :data:`COMMANDS` only. :func:`build_parser` without ``only``
configures every command: the man page, the shell completions and the docs use it.

The program name follows ``argv[0]``: installed as ``aws_signing_helper``, usage and errors
say ``aws_signing_helper``. Errors: a :class:`~rasign.errors.RasignError` prints
``PROG: error: <one line>`` on stderr and exits with its class's code (docs/exit-codes.md).
Anything else is a bug: one line asking for a report, exit 70, the traceback only with
``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from rasign.cli.parser import GO_TRUE, CliParser
from rasign.errors import CertificateError, KeyLoadError, RasignError, UsageError

COMMANDS: dict[str, tuple[str, str]] = {
    "credential-process": (
        "rasign.commands.credential_process",
        "print temporary credentials as credential_process JSON",
    ),
    "serve": ("rasign.commands.serve", "serve credentials over an IMDSv2- or ECS-compatible endpoint"),
    "update": ("rasign.commands.update", "write credentials into the shared credentials file and keep them fresh"),
    "sign-string": ("rasign.commands.sign_string", "sign the fixed test string (checks a key works)"),
    "read-certificate-data": (
        "rasign.commands.read_certificate_data",
        "show certificate data or list matching identities",
    ),
    "agent": (
        "rasign.commands.agent",
        "run the per-user agent (one PIN per login session), or ask it: status, lock, stop",
    ),
    "emulator": ("rasign.commands.emulator", "run a local Roles Anywhere + STS emulator (offline demos and tests)"),
    "demo": ("rasign.commands.demo", "run the end-to-end flow against the local emulator (no AWS account needed)"),
    "version": ("rasign.commands.version", "print the version"),
    "help": ("rasign.cli.help_command", "show the help of the program or of a command"),
    "completion": ("rasign.cli.completion", "print a shell completion script (bash, zsh, fish, powershell)"),
    "identities": ("rasign.commands.identities", "list the named identities of the identities file"),
    "exec": ("rasign.commands.exec", "run a command with credentials in its environment (or a private endpoint)"),
    "export": ("rasign.commands.export", "print credentials as sh, fish, PowerShell or JSON assignments"),
    "configure": ("rasign.commands.configure", "write [profile NAME] with credential_process into ~/.aws/config"),
    "doctor": ("rasign.commands.doctor", "check a set-up before it fails: certificate, chain, key, ARNs, endpoint"),
}

GO_EXCLUSION_COMMANDS = frozenset({"credential-process", "serve", "update", "sign-string", "read-certificate-data"})
"""Commands whose Go flag exclusions are checked at parse time (rasign.cli.flags.EXCLUSIVE_PAIRS)."""
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
DEFAULT_PROG = "rasign"
PIN_ALIAS_HELP = (
    "the user guide's spelling (no such flag in aws_signing_helper): the user PIN, used like pin-value= "
    "in the pkcs11: URI; visible in ps, prefer --pkcs11-pin-file"
)


def program_name(argv0: str | None = None) -> str:
    """The name to show in usage and errors: ``argv[0]``'s base name, ``rasign`` for ``-m``/``-c``."""
    text = sys.argv[0] if argv0 is None else argv0
    name = os.path.basename(text or "")
    for suffix in (".exe", ".py", "-script.py"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    if not name or name in ("__main__", "-c", "-m", "main") or name.startswith("python"):
        return DEFAULT_PROG
    return name


def build_parser(prog: str = DEFAULT_PROG, *, only: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser. Every command is configured unless ``only`` names the one to configure.

    Public: the man page (:mod:`rasign.cli.manpage`), the completions and the docs build use
    the full parser, so help, docs and the accepted flags cannot disagree. A command name as
    the first argument means ``only=`` that command (the signature before issue 10, which
    callers such as the agent's request parser still use).
    """
    from rasign import __version__
    from rasign.cli import helptext

    if only is None and prog in COMMANDS:
        prog, only = DEFAULT_PROG, prog

    root = CliParser(
        prog=prog,
        description="Hardware-backed signer for AWS IAM Roles Anywhere (drop-in for aws_signing_helper).",
        epilog=f"Run '{prog} help COMMAND' for a command's flags and examples.",
    )
    root.add_argument("--version", action="version", version=__version__)
    sub = root.add_subparsers(dest="command", metavar="COMMAND", parser_class=CliParser)
    for name, (module_name, summary) in COMMANDS.items():
        parser = sub.add_parser(name, help=summary, description=summary)
        if only is None or name == only:
            module = importlib.import_module(module_name)
            module.configure(parser)
            importlib.import_module("rasign.identities").add_identity_flags(parser, name)
            _add_pin_alias(parser)
            helptext.apply(name, parser, prog)
            parser.set_defaults(_run=module.run, _prog=prog)
    return root


def _add_pin_alias(parser: argparse.ArgumentParser) -> None:
    """``--pkcs11-pin``, next to ``--pkcs11-pin-file`` in the PKCS#11 group, where that exists."""
    neighbour = parser._option_string_actions.get("--pkcs11-pin-file")
    if neighbour is None:
        return
    group: argparse._ActionsContainer = parser
    for candidate in parser._action_groups:
        if neighbour in candidate._group_actions:
            group = candidate
    group.add_argument("--pkcs11-pin", dest="pkcs11_pin_alias", metavar="PIN", help=PIN_ALIAS_HELP)


def _command_in(argv: Sequence[str], prog: str = DEFAULT_PROG) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            if token not in COMMANDS:
                import difflib

                close = difflib.get_close_matches(token, list(COMMANDS), n=1)
                hint = f"did you mean {close[0]}?" if close else f"run '{prog} --help' for the commands"
                raise UsageError(f'unknown command "{token}" for "{prog}"', hint=hint)
            return token
    return None


def _debug_requested(argv: Sequence[str]) -> bool:
    return any(token == "--debug" or (token.startswith("--debug=") and token[8:] in GO_TRUE) for token in argv)


def _unknown_flag(token: str, parser: argparse.ArgumentParser, where: str) -> UsageError:
    name = token.partition("=")[0]
    known = sorted(option for option in parser._option_string_actions if option.startswith("--"))
    if name.startswith("-") and not name.startswith("--") and "-" + name in known:
        hint = f"did you mean -{name}? flags are long-form only"
    else:
        longer = [option for option in known if option.startswith(name) and len(name) > 2]
        if longer:
            hint = f"did you mean {' or '.join(longer[:3])}? abbreviations are not accepted"
        else:
            hint = f"see '{where} --help'"
    return UsageError(f"unknown flag: {name}", hint=hint)


def _subparser(root: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser: argparse.ArgumentParser = action.choices[command]
            return parser
    raise LookupError(command)


def _split_extras(extras: list[str], parser: argparse.ArgumentParser, where: str) -> list[str]:
    """Refuse unknown flags; return the extra positional arguments (Go ignores them)."""
    ignored: list[str] = []
    for token in extras:
        if token.startswith("-") and token != "-":
            raise _unknown_flag(token, parser, where)
        ignored.append(token)
    return ignored


def _check_exclusions(command: str | None, args: argparse.Namespace) -> None:
    """The Go helper's mutually exclusive groups, checked at parse time as cobra does."""
    if command not in GO_EXCLUSION_COMMANDS:
        return
    from rasign.cli import flags

    flags.check_exclusions(args, flags.exclusions_for(command))


def _apply_pin_alias(args: argparse.Namespace) -> None:
    """``--pkcs11-pin PIN``: put the PIN into the pkcs11: URIs as ``pin-value`` (same trust)."""
    pin = getattr(args, "pkcs11_pin_alias", None)
    if not pin:
        return
    from urllib.parse import quote

    used = False
    for dest in ("certificate", "private_key"):
        value = getattr(args, dest, None)
        if not (isinstance(value, str) and value.lower().startswith("pkcs11:")):
            continue
        used = True
        query = value.partition("?")[2].lower()
        if "pin-value=" in query or "pin-source=" in query:
            continue
        setattr(args, dest, value + ("&" if "?" in value else "?") + "pin-value=" + quote(pin, safe=""))
    if not used:
        raise UsageError(
            "--pkcs11-pin needs a pkcs11: URI in --certificate or --private-key",
            hint="for other PIN uses give --pkcs11-pin-file PATH or --pkcs11-pin-env NAME",
        )


def _preflight(command: str | None, args: argparse.Namespace, ignored: list[str], prog: str) -> None:
    """Warnings, then every local check that needs no file contents, before the command runs."""
    for line in _warnings(args, ignored, prog):
        _say(line)
    _local_checks(command, args)


def _warnings(args: argparse.Namespace, ignored: list[str], prog: str) -> list[str]:
    from rasign.cli import argv_secrets

    lines = []
    if ignored:
        lines.append(
            f"{prog}: warning: ignoring extra argument(s) {' '.join(repr(t) for t in ignored)} "
            f"(flags start with --; aws_signing_helper ignores them too)"
        )
    warning = argv_secrets.warning_line(args)
    if warning and not argv_secrets.silenced():
        lines.append(f"{prog}: warning: {warning}")
    return lines


def _local_checks(
    command: str | None, args: argparse.Namespace, resolve_paths: Callable[[argparse.Namespace], None] | None = None
) -> None:
    from rasign.cli import mistakes

    _check_exclusions(command, args)
    _apply_pin_alias(args)
    if resolve_paths is not None:
        resolve_paths(args)
    mistakes.check_paths(args)


def parse_credential_process(
    argv: Sequence[str],
    *,
    prog: str = DEFAULT_PROG,
    resolve_paths: Callable[[argparse.Namespace], None] | None = None,
) -> tuple[argparse.Namespace, list[str]]:
    """``credential-process ARGV`` parsed and checked exactly as :func:`main` does; (args, warning lines).

    For the agent, which answers credential-process on a client's behalf: the warnings go
    back to the client's stderr, and ``resolve_paths`` makes relative paths absolute in
    the client's working directory before the path checks run.
    """
    from rasign.cli import mistakes

    args_list = ["credential-process", *argv]
    mistakes.check_line_continuations(args_list)
    parser = build_parser(prog, only="credential-process")
    args, extras = parser.parse_known_args(args_list)
    if getattr(args, "identity", None):
        from rasign.identities import apply_identity

        args = apply_identity(args, parser, lambda: parser.parse_known_args(args_list)[0])
    ignored = _split_extras(extras, _subparser(parser, "credential-process"), f"{prog} credential-process")
    warnings = _warnings(args, ignored, prog)
    _local_checks("credential-process", args, resolve_paths)
    return args, warnings


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the CLI and return the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    prog = prog or program_name()
    debug = _debug_requested(args_list)
    try:
        return _run_command(args_list, prog)
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    except RasignError as err:
        _traceback_if(debug)
        _say(f"{prog}: error: {err.one_line()}")
        return err.exit_code
    except KeyboardInterrupt:
        _say(f"{prog}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 1
    except Exception as err:  # noqa: BLE001 - the last line of defence against tracebacks
        _traceback_if(debug)
        _say(f"{prog}: internal error: {type(err).__name__}: {err} (rerun with --debug and report it)")
        return EXIT_INTERNAL


def _run_command(args_list: list[str], prog: str) -> int:
    """Parse ``args_list``, run the checks every command shares, then the command; its exit code."""
    from rasign.cli import mistakes

    mistakes.check_line_continuations(args_list)
    command = _command_in(args_list, prog)
    parser = build_parser(prog, only=command)
    if not args_list:
        parser.print_help()
        return 0
    args, extras = parser.parse_known_args(args_list)
    if getattr(args, "identity", None):
        from rasign.identities import apply_identity

        args = apply_identity(args, parser, lambda: parser.parse_known_args(args_list)[0])
    args._argv = args_list  # as typed: exec and export pass their flags on to the agent
    run = getattr(args, "_run", None)
    where = f"{prog} {command}" if command else prog
    ignored = _split_extras(extras, _subparser(parser, command) if command else parser, where)
    if run is None:
        parser.print_help(sys.stderr)
        return UsageError.exit_code
    _preflight(command, args, ignored, prog)
    from rasign import logs

    structured = getattr(args, "log_format", "text") == "json"
    logs.configure(debug=bool(getattr(args, "debug", False)), structured=structured)
    try:
        return int(run(args) or 0)
    except (KeyLoadError, CertificateError) as err:
        better = mistakes.diagnose(args)
        if better is None:
            raise
        raise better from err


def _traceback_if(debug: bool) -> None:
    """The traceback of the exception being handled, on stderr, only with ``--debug``."""
    if debug:
        import traceback

        traceback.print_exc()


def _say(text: str) -> None:
    """One line on stderr: secrets scrubbed, control characters (from argv or files) made visible."""
    from rasign.logs import scrub
    from rasign.textsafe import clean

    print(scrub(clean(text, limit=4000)), file=sys.stderr)


ONE_SHOT = frozenset({"credential-process", "sign-string", "read-certificate-data", "version", "help", "completion"})
"""Commands that hold nothing needing cleanup when they return."""


def run() -> None:
    """Console-script entry: exit with :func:`main`'s code.

    One-shot commands skip interpreter teardown (about 15 ms with cryptography and the
    HTTPS client loaded) once their output is flushed: ``credential-process`` runs for every
    AWS CLI call. Long-running commands exit normally so their cleanup runs.
    """
    code = main()
    try:
        command = _command_in(sys.argv[1:])
    except UsageError:
        command = None
    if command in ONE_SHOT:
        from rasign.entry import exit_now

        exit_now(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
