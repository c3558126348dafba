"""``exec`` and ``export`` through the agent: their command line as ``credential-process`` arguments.

The agent speaks one request, ``credentials`` with ``credential-process`` arguments, and
parses them itself. ``exec`` and ``export`` take the same signer, session, cache and
identity flags plus a few of their own (``--format``, ``--server``, the command to run), so
the request is their own command line with those few removed, in the order typed. The
walk uses the parsers' own actions, never a hand-kept list, and declines (returns None, so
the command mints in its own process) whenever a token is not plainly one of those flags.

The agent's errors come back with their class name and exit code; :func:`relayed_error`
raises the same class here, so the exit code and the refresher's retry decision (the
class's ``permanent``) are those of the error the agent met.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rasign.errors import RasignError, StoreError

if TYPE_CHECKING:
    from rasign.agent.client import AgentFailed
    from rasign.credentials import Credentials

_CONTROL_FLAGS = frozenset({"--debug", "--log-format"})
"""The client's own logging: meaningless to the agent (and --debug skips it in credential-process)."""


def credential_process_argv(tokens: Sequence[str], command: str) -> list[str] | None:
    """The part of ``tokens`` (``COMMAND FLAGS... [-- CHILD...]``) that ``credential-process`` takes.

    None when a token is not a flag both commands declare with a plain arity (the caller
    then mints in-process, exactly as without an agent).
    """
    if list(tokens[:1]) != [command]:
        return None  # flags before the command name: not a line this walk is sure of
    if command == "credential-process":
        return [token for token in tokens[1:] if token != "--debug"]  # its own line, as the fast path sends it
    from rasign.cli.main import build_parser

    own = _options(build_parser(only=command), command)
    shared = _options(build_parser(only="credential-process"), "credential-process")
    kept: list[str] = []
    index = 1
    while index < len(tokens):
        token = tokens[index]
        if token == "--" or not token.startswith("-") or token == "-":
            break  # exec's command (and nothing else) follows
        name, equals, _ = token.partition("=")
        action = own.get(name)
        if action is None:
            return None
        arity = 0 if equals else _arity(action)
        if arity is None:
            return None
        chunk = list(tokens[index : index + 1 + arity])
        if len(chunk) != 1 + arity:
            return None
        if name in shared and name not in _CONTROL_FLAGS:
            kept.extend(chunk)
        index += 1 + arity
    return kept


def _options(parser: argparse.ArgumentParser, command: str) -> dict[str, argparse.Action]:
    sub = next(
        (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),  # noqa: SLF001
        None,
    )
    target = sub.choices[command] if sub is not None else parser
    return {option: action for action in target._actions for option in action.option_strings}  # noqa: SLF001


def _arity(action: argparse.Action) -> int | None:
    if action.nargs is None:
        return 1
    if isinstance(action.nargs, int):
        return action.nargs
    return None  # "?", "*", "+", REMAINDER: not a shape the walk can be sure of


def credentials_from_agent(args: argparse.Namespace, command: str) -> Credentials | None:
    """The credentials a running agent hands out for this ``exec``/``export`` line, or None.

    None: no agent wanted or running (or it declined), so the caller mints in-process.
    Raises the agent's own error class for a failure it reports, and :class:`StoreError`
    when ``--agent`` forced an agent that does not answer.
    """
    from rasign.agent import client, protocol

    tokens = getattr(args, "_argv", None)
    if not tokens:
        return None
    forced = bool(getattr(args, "agent", False))
    if getattr(args, "no_agent", False) or client.wanted([]) == "off":
        return None
    if not forced and not os.path.exists(protocol.socket_path()):
        return None  # decided before the parsers are built: no agent costs nothing
    argv = credential_process_argv(tokens, command)
    if argv is None:
        if forced:
            raise StoreError(
                f"this {command} line cannot be passed to the agent",
                hint="write every flag as --name VALUE, or drop --agent",
            )
        return None
    try:
        text = client.credential_process(argv)
    except client.AgentFailed as err:
        raise relayed_error(err) from None
    if text is None:
        return None
    from rasign.credentials import from_process_json

    return from_process_json(text)


def relayed_error(err: AgentFailed) -> RasignError:
    """The agent's error as this process's: same class (when rasign defines it), same exit code."""
    from rasign import errors

    name = getattr(err, "error_class", "")
    classes = errors.error_classes()
    chosen: type[RasignError] | None = next((c for c in classes if c.__name__ == name), None)
    if chosen is None or chosen.exit_code != err.exit_code:
        chosen = next((c for c in classes if c.exit_code == err.exit_code), None)
    if chosen is None:
        failure = RasignError(err.line)
        failure.exit_code = err.exit_code  # type: ignore[misc]  # the agent's own class decided it
        return failure
    relayed: RasignError = chosen.__new__(chosen)
    RasignError.__init__(relayed, err.line)
    return relayed


class AgentMinter:
    """``exec --server``'s minter when an agent serves the identity: each refresh is one request.

    The agent keeps the key open and the PIN; this process never opens the key. ``open``
    asks once in the foreground, so a PIN the agent lacks is typed at the terminal before
    the command starts.
    """

    def __init__(self, args: argparse.Namespace, command: str, first: Credentials) -> None:
        self.args = args
        self.command = command
        self._first: Credentials | None = first

    def open(self) -> None:
        """Nothing to open: the first answer came while choosing this minter."""

    def mint(self) -> Credentials:
        first, self._first = self._first, None
        if first is not None:
            return first
        credentials = credentials_from_agent(self.args, self.command)
        if credentials is None:
            raise StoreError(
                "the rasign agent stopped answering",
                hint="start it again (rasign agent --daemon); the served credentials stay valid until they expire",
            )
        return credentials

    def close(self) -> None:
        """Nothing to close: the agent keeps the key."""
