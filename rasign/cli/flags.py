"""Command-line flags shared by the commands, named exactly like the Go helper's.

Every flag of ``aws_signing_helper`` 1.8 (reference-helper.md section 1) is accepted with
the same meaning; rasign's additions use new names and never change an old one. The Go
helper's mutually exclusive flag groups are enforced with its own error text, so scripts
that parse errors keep working.

The signer and session flags are not written here: :func:`add_option_flags` and
:func:`options_from_args` generate the parser and the mapping back from the fields of
:mod:`rasign.options` (each field's :class:`~rasign.options.Flag`), so an option is added in
one place. The exclusive pairs are declared once, in :data:`EXCLUSIVE_PAIRS`, each with the
commands that apply it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from typing import Any, TypeVar

from rasign import validate
from rasign.errors import UsageError
from rasign.options import Flag, SessionOptions, SignerOptions, flag_of

T = TypeVar("T")

CREDENTIAL_COMMANDS = frozenset({"credential-process", "serve", "update"})
"""Commands that share the Go helper's credential flags (reference-helper.md 1.2)."""
SIGN_STRING = frozenset({"sign-string"})
READ_CERTIFICATE = frozenset({"read-certificate-data"})
_KEY_COMMANDS = CREDENTIAL_COMMANDS | SIGN_STRING

EXCLUSIVE_PAIRS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("certificate", "cert-selector", _KEY_COMMANDS | READ_CERTIFICATE),
    ("certificate", "system-store-name", _KEY_COMMANDS | READ_CERTIFICATE),
    ("private-key", "cert-selector", _KEY_COMMANDS),
    ("private-key", "system-store-name", _KEY_COMMANDS),
    ("private-key", "use-latest-expiring-certificate", _KEY_COMMANDS),
    ("use-latest-expiring-certificate", "intermediates", CREDENTIAL_COMMANDS),
    ("use-latest-expiring-certificate", "reuse-pin", _KEY_COMMANDS),
    ("cert-selector", "intermediates", CREDENTIAL_COMMANDS),
    ("cert-selector", "reuse-pin", _KEY_COMMANDS),
    ("system-store-name", "reuse-pin", _KEY_COMMANDS),
    ("tpm-key-password", "cert-selector", _KEY_COMMANDS),
    ("tpm-key-password", "reuse-pin", _KEY_COMMANDS),
    ("no-tpm-key-password", "cert-selector", _KEY_COMMANDS),
    ("no-tpm-key-password", "reuse-pin", SIGN_STRING),
    ("no-tpm-key-password", "tpm-key-password", _KEY_COMMANDS),
    ("pkcs8-password", "tpm-key-password", _KEY_COMMANDS),
)
"""The Go helper's ``MarkFlagsMutuallyExclusive`` pairs, once, each with the commands that
declare it (reference-helper.md 1.2, 1.6, 1.7). The pair's order is Go's: it appears in the
error text. sign-string has no ``--intermediates`` and adds ``no-tpm-key-password|reuse-pin``."""


def exclusions_for(command: str) -> tuple[tuple[str, str], ...]:
    """The exclusive pairs ``command`` enforces (none for a command the Go helper lacks)."""
    return tuple((first, second) for first, second, commands in EXCLUSIVE_PAIRS if command in commands)


CREDENTIAL_EXCLUSIONS = exclusions_for("credential-process")
"""credential-process, serve and update (and rasign's exec and export, which take their flags)."""
SIGN_STRING_EXCLUSIONS = exclusions_for("sign-string")
READ_CERTIFICATE_EXCLUSIONS = exclusions_for("read-certificate-data")


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """``--debug``: verbose logs on stderr (never secrets) and tracebacks on errors."""
    parser.add_argument("--debug", action="store_true", help="verbose logging on stderr; show tracebacks")
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format on stderr")


def add_option_flags(parser: argparse.ArgumentParser, options_class: type, *, skip: Sequence[str] = ()) -> None:
    """Add the flag of every field of ``options_class`` (except ``skip``), grouped as declared.

    Groups appear in the order their first field is declared and each group's flags in field
    order, so help, man page and completions follow the dataclass.
    """
    by_group: dict[str, list[tuple[dataclasses.Field[Any], Flag]]] = {}
    for item, spec in _flag_fields(options_class):
        if item.name not in skip:
            by_group.setdefault(spec.group, []).append((item, spec))
    for title, members in by_group.items():
        group = parser.add_argument_group(title)
        for item, spec in members:
            group.add_argument(*spec.names, **_argument(item, spec))


def _flag_fields(options_class: type) -> list[tuple[dataclasses.Field[Any], Flag]]:
    pairs = []
    for item in dataclasses.fields(options_class):
        spec = flag_of(item)
        if spec is not None:
            pairs.append((item, spec))
    return pairs


def _argument(item: dataclasses.Field[Any], spec: Flag) -> dict[str, Any]:
    """``add_argument`` keywords for one field's flag."""
    kwargs: dict[str, Any] = {"help": spec.help}
    if len(spec.names) > 1:
        kwargs["dest"] = spec.dest
    if spec.maps in ("true", "inverted"):
        kwargs["action"] = "store_true"
        if spec.env:
            kwargs["default"] = _env_flag(spec.env)
        return kwargs
    kwargs["metavar"] = spec.metavar
    if spec.maps == "pairs":
        kwargs.update(action="append", default=[])
        return kwargs
    if spec.check:
        kwargs["type"] = validate.flag(getattr(validate, spec.check), spec.names[0])
    default = item.default
    if spec.env and isinstance(default, int):
        default = _env_int(spec.env, default)
    if default is not None:
        kwargs["default"] = default
    return kwargs


def options_from_args(options_class: type[T], args: argparse.Namespace) -> T:
    """Build ``options_class`` from parsed flags; a flag the parser lacks keeps the field's default.

    Lower bounds are checked first, as the hand-written mapping did: an environment default
    below its minimum (``AWS_MAX_ATTEMPTS=0``) is reported before a malformed ``KEY=VALUE``.
    """
    present = [(item, spec) for item, spec in _flag_fields(options_class) if hasattr(args, spec.dest)]
    for _, spec in present:
        if spec.minimum is not None and getattr(args, spec.dest) < spec.minimum:
            raise UsageError(f"{spec.names[0]} must be at least {spec.minimum}")
    return options_class(**{item.name: _field_value(spec, getattr(args, spec.dest)) for item, spec in present})


def _field_value(spec: Flag, value: Any) -> Any:
    """The field value for one parsed flag value, by the flag's mapping (rasign.options.MAPPINGS)."""
    if spec.maps == "true":
        return bool(value)
    if spec.maps == "inverted":
        return not bool(value)
    if spec.maps == "pairs":
        return _pairs(value or [], spec.names[0])
    if spec.maps == "blank_none":
        return value or None
    return value


def add_signer_flags(parser: argparse.ArgumentParser, *, intermediates: bool = True) -> None:
    """Flags that say where the certificate and key live (all backends): :class:`SignerOptions`'s fields."""
    add_option_flags(parser, SignerOptions, skip=() if intermediates else ("intermediates",))


def add_session_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that say which role to assume and how to reach Roles Anywhere: :class:`SessionOptions`'s fields."""
    add_option_flags(parser, SessionOptions)


def add_refresh_flags(parser: argparse.ArgumentParser) -> None:
    """The "refresh" group of the long-running commands (``serve``, ``update``): :class:`RefreshSettings`'s fields."""
    from rasign.refresh import RefreshSettings

    add_option_flags(parser, RefreshSettings)


def add_agent_flags(parser: argparse.ArgumentParser) -> None:
    """``--agent`` / ``--no-agent``: the commands that can take their credentials from ``rasign agent``."""
    agent = parser.add_argument_group("agent (rasign agent)")
    agent.add_argument(
        "--agent", action="store_true", help="get the credentials from the running rasign agent; fail if none runs"
    )
    agent.add_argument("--no-agent", action="store_true", help="never ask a running agent (env RASIGN_NO_AGENT=1)")


def check_agent_flags(args: argparse.Namespace) -> None:
    """``--agent`` and ``--no-agent`` together are a mistake, not a choice."""
    if getattr(args, "agent", False) and getattr(args, "no_agent", False):
        raise UsageError("--agent and --no-agent exclude each other", hint="keep one of them")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        result[key] = value
    return result


def check_exclusions(args: argparse.Namespace, groups: Sequence[tuple[str, str]]) -> None:
    """Refuse flag combinations the Go helper refuses, with its wording."""
    for first, second in sorted(groups, key=lambda pair: " ".join(pair)):
        values = [getattr(args, name.replace("-", "_"), None) for name in (first, second)]
        if all(value not in (None, False, "") for value in values):
            both = " ".join(sorted((first, second)))
            raise UsageError(
                f"if any flags in the group [{first} {second}] are set none of the others can be; [{both}] were all set"
            )


def signer_options(args: argparse.Namespace) -> SignerOptions:
    """Map parsed flags to :class:`SignerOptions` (generated from its fields)."""
    return options_from_args(SignerOptions, args)


def session_options(args: argparse.Namespace) -> SessionOptions:
    """Map parsed flags to :class:`SessionOptions` (generated from its fields)."""
    return options_from_args(SessionOptions, args)
