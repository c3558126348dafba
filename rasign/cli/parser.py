"""The argparse parser class every rasign parser uses, with the Go helper's parsing rules.

Why a subclass: argparse differs from the Go helper's cobra/pflag parsing in ways that break
``credential_process`` lines written for ``aws_signing_helper``. This class closes the gaps:

- no prefix matching (``allow_abbrev=False``): ``--profile X`` never silently means
  ``--profile-arn X``;
- booleans take Go's explicit values: ``--debug=false``, ``--reuse-pin=1``,
  ``--no-verify-ssl=TRUE`` (``strconv.ParseBool`` spellings); the last occurrence wins;
- errors are one line (:class:`~rasign.errors.UsageError`, exit 2) instead of argparse's
  usage dump and exit 2 via ``SystemExit``.

Extra positional arguments are returned by ``parse_known_args`` and handled by the entry
point (ignored with a warning, as Go ignores them).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from rasign.errors import UsageError

GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
"""The spellings Go's ``strconv.ParseBool`` accepts (pflag uses it for ``--flag=value``)."""

_BOOL_ACTIONS = (argparse._StoreTrueAction, argparse._StoreFalseAction)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps examples as written and shows every default that is not already in the text."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default in (None, False, True, "", argparse.SUPPRESS)
            or isinstance(default, (list, tuple))
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


class CliParser(argparse.ArgumentParser):
    """argparse with the Go helper's rules; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        tokens, explicit = normalise_bools(self, list(args or []))
        parsed, extras = super().parse_known_args(tokens, namespace)
        for dest, value in explicit.items():
            setattr(parsed, dest, value)
        return parsed, extras


def bool_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Option string -> action, for every flag that takes no value and sets True/False."""
    return {
        option: action
        for action in parser._actions
        if isinstance(action, _BOOL_ACTIONS)
        for option in action.option_strings
    }


def _takes_value(parser: argparse.ArgumentParser, token: str) -> bool:
    action = parser._option_string_actions.get(token)
    return action is not None and action.nargs != 0 and not isinstance(action, argparse._SubParsersAction)


def normalise_bools(parser: argparse.ArgumentParser, tokens: list[str]) -> tuple[list[str], dict[str, bool]]:
    """Rewrite ``--flag=VALUE`` for boolean flags into what argparse understands.

    A true value becomes the bare flag. A false value removes the flag and every earlier
    occurrence of a flag with the same destination, and the destination is set to the
    opposite of what the flag sets (``--debug=false`` -> debug False, ``--no-cache=false`` ->
    cache True). Returns the new tokens and the destinations to set after parsing.
    """
    booleans = bool_actions(parser)
    if not booleans:
        return tokens, {}
    out: list[str] = []
    explicit: dict[str, bool] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "--":
            out.extend(tokens[index:])
            break
        name, sep, value = token.partition("=")
        action = booleans.get(name) if sep and name.startswith("--") else None
        if action is None:
            taken = _with_value(parser, tokens, index)
            out.extend(taken)
            index += len(taken)
            continue
        out = _explicit_bool(out, explicit, booleans, name, value)
        index += 1
    # A later bare flag beats an earlier "=false" for the same destination.
    for token in out:
        action = booleans.get(token)
        if action is not None:
            explicit.pop(action.dest, None)
    return out, explicit


def _with_value(parser: argparse.ArgumentParser, tokens: list[str], index: int) -> list[str]:
    """``tokens[index]`` and, for a flag that takes one, its value (never a token starting with "-",
    because argparse never takes one as a value either)."""
    token = tokens[index]
    if _takes_value(parser, token) and index + 1 < len(tokens) and not tokens[index + 1].startswith("-"):
        return [token, tokens[index + 1]]
    return [token]


def _explicit_bool(
    out: list[str], explicit: dict[str, bool], booleans: dict[str, argparse.Action], name: str, value: str
) -> list[str]:
    """Apply one ``--flag=VALUE`` of a boolean flag to the tokens so far; return the new tokens."""
    action = booleans[name]
    if value in GO_TRUE:
        explicit.pop(action.dest, None)
        return [*out, name]
    if value in GO_FALSE:
        same_dest = {o for o, a in booleans.items() if a.dest == action.dest}
        explicit[action.dest] = not action.const
        return [t for t in out if t not in same_dest]
    raise UsageError(
        f'invalid argument "{value}" for "{name}" flag: not a boolean',
        hint=f"use {name}, {name}=true or {name}=false (also 1, 0, t, f, TRUE, FALSE)",
    )
