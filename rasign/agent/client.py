"""The agent's client side: what ``credential-process`` runs first. Standard library only.

The client does not parse flags: it sends its arguments, working directory and the
relevant environment to the agent, which parses them exactly as the CLI would. So an
answer from a running agent costs one socket round trip and no import of argparse,
cryptography or requests.

Falling back: when no agent listens (no socket, connection refused, the agent died
mid-request) the caller runs the normal in-process path, unless ``--agent`` forced the
agent, which then fails with one line. The client never hangs: every wait is bounded.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from rasign.agent import protocol

TIMEOUT_ENV = "RASIGN_AGENT_TIMEOUT"
DEFAULT_TIMEOUT = 120.0
"""Seconds to wait for one answer (a touch or a slow token is inside this)."""


class AgentUnavailable(Exception):
    """No agent answered; the caller may fall back to the in-process path."""


class AgentNotTrusted(AgentUnavailable):
    """Something listens at the socket, but not as this user (or root): nothing was sent to it.

    ``/tmp/rasign-UID`` (the path without ``$XDG_RUNTIME_DIR``) can be made by anyone; a
    process of another user listening there would otherwise receive the request's
    environment, the PIN typed at the prompt, and could hand back credentials of its choice.
    """


class AgentFailed(Exception):
    """The agent answered with an error; ``exit_code`` and ``line`` are the CLI's."""

    def __init__(self, line: str, exit_code: int, error_class: str = "") -> None:
        super().__init__(line)
        self.line = line
        self.exit_code = exit_code
        self.error_class = error_class
        """The name of the agent's error class (``AuthenticationError``...), when it said."""


def wanted(argv: list[str]) -> str:
    """``"forced"`` (``--agent``), ``"off"`` (``--no-agent``, ``$RASIGN_NO_AGENT``) or ``"auto"``."""
    if "--no-agent" in argv or os.environ.get(protocol.NO_AGENT_ENV, "").lower() in ("1", "true", "yes"):
        return "off"
    return "forced" if "--agent" in argv else "auto"


def _timeout() -> float:
    try:
        value = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if 0 < value < 1e6 else DEFAULT_TIMEOUT


def request(
    message: dict[str, Any], *, path: str | None = None, timeout: float | None = None, on_notice: Any = None
) -> dict[str, Any]:
    """Send one request and return the final answer; notices go to ``on_notice``.

    Raises :class:`AgentUnavailable` when nothing listens or the agent dies before
    answering.
    """
    where = path or protocol.socket_path()
    limit = timeout if timeout is not None else _timeout()
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(limit)
    try:
        try:
            connection.connect(where)
        except OSError as err:
            raise AgentUnavailable(f"no agent at {where} ({err.strerror or err})") from err
        _check_listener(connection, where)  # before a single byte of the request leaves
        try:
            connection.sendall(protocol.encode(message))
        except OSError as err:
            raise AgentUnavailable(f"no agent at {where} ({err.strerror or err})") from err
        reader = connection.makefile("rb")
        while True:
            try:
                line = reader.readline(protocol.MAX_LINE + 1)
            except TimeoutError as err:
                raise AgentFailed(
                    f"the agent did not answer within {limit:g} s (is the key waiting for a touch?)", 9
                ) from err
            except OSError as err:
                raise AgentUnavailable(f"the agent at {where} stopped answering ({err.strerror or err})") from err
            if not line:
                raise AgentUnavailable(f"the agent at {where} closed the connection before answering")
            try:
                answer = protocol.decode(line)
            except ValueError as err:
                raise AgentUnavailable(f"the agent at {where} sent a malformed answer") from err
            if "notice" in answer:
                if on_notice is not None:
                    on_notice(str(answer["notice"]))
                continue
            return answer
    finally:
        connection.close()


def _check_listener(connection: socket.socket, where: str) -> None:
    """The process listening at ``where`` runs as this user or root, else :class:`AgentNotTrusted`.

    ``SO_PEERCRED`` names the listener on Linux; elsewhere the socket file's owner stands in.
    """
    from rasign.peercred import peer_uid

    try:
        uid = peer_uid(connection)
        if uid is None:
            uid = os.stat(where).st_uid
    except OSError as err:
        raise AgentNotTrusted(f"cannot tell who listens at {where} ({err.strerror or err})") from err
    if uid not in (os.getuid(), 0):
        raise AgentNotTrusted(
            f"{where} is served by uid {uid}, not by you: nothing was sent to it"
            " (remove it, or set RASIGN_AGENT_SOCK to a socket of your own agent)"
        )


def credential_process(argv: list[str]) -> str | None:
    """The credential_process JSON from the agent, or None to fall back to the in-process path.

    Raises :class:`AgentFailed` for errors the agent reports (a wrong PIN, a bad flag), and
    when ``--agent`` forced an agent that is not there.
    """
    mode = wanted(argv)
    if mode == "off":
        return None
    path = protocol.socket_path()
    if mode == "auto" and not os.path.exists(path):
        return None
    message: dict[str, Any] = {
        "op": "credentials",
        "argv": argv,
        "cwd": os.getcwd(),
        "env": _request_environment(),
        "tty": _can_ask(),
    }
    for _ in range(3):  # at most: the PIN, then the context PIN
        answer = _ask_agent(message, path, forced=mode == "forced")
        if answer is None:
            return None
        if answer.get("ok"):
            for line in answer.get("warnings") or []:
                sys.stderr.write(str(line) + "\n")
            return str(answer["output"])
        need = answer.get("need")
        if need:
            message["secrets"] = dict(message.get("secrets", {}), **{str(need["what"]): _ask(need)})
            continue
        error = answer.get("error") or {}
        raise AgentFailed(
            str(error.get("line", "the agent failed")), _exit_code(error.get("exit_code")), str(error.get("class", ""))
        )
    raise AgentFailed("the agent kept asking for secrets", 6)


def _ask_agent(message: dict[str, Any], path: str, *, forced: bool) -> dict[str, Any] | None:
    """One round trip; None when the caller should mint in-process (no agent, or not ours)."""
    try:
        return request(message, path=path, on_notice=show_on_terminal)
    except AgentNotTrusted as err:
        if forced:
            raise AgentFailed(str(err), 13) from err
        sys.stderr.write(f"rasign: warning: not using the agent: {err}\n")
        return None
    except AgentUnavailable as err:
        if forced:
            raise AgentFailed(f"{err} (start one with: rasign agent --daemon)", 13) from err
        return None


def _request_environment() -> dict[str, str]:
    """The environment a request carries, less how this client asks (``RASIGN_PINENTRY*``).

    The agent never prompts, and the environment is part of its identity key: an IDE with a
    pinentry and a terminal without one must share one entry, so the PIN is asked only once.
    """
    return {k: v for k, v in protocol.client_environment().items() if not k.startswith("RASIGN_PINENTRY")}


def _can_ask() -> bool:
    """Whether this client can ask the person for a PIN: a pinentry program, else a terminal.

    A ``$RASIGN_PINENTRY`` naming no program is reported only when a PIN is needed (the
    prompt finds it before anything is typed or tried), as in-process: credentials the agent
    already holds are still handed out.
    """
    return bool(os.environ.get("RASIGN_PINENTRY")) or _has_terminal()


def _has_terminal() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


def _ask(need: dict[str, Any]) -> str:
    from rasign.errors import RasignError
    from rasign.secrets import prompt_tty

    what = str(need.get("what", "PIN"))
    try:
        value = prompt_tty(str(need.get("prompt", f"{what}: ")), what=what, how_to_avoid=str(need.get("hint") or ""))
    except RasignError as err:
        raise AgentFailed(err.one_line(), err.exit_code) from err
    if not value:
        raise AgentFailed(f"no {what} was entered", 6)
    return value


def _exit_code(value: Any) -> int:
    """The agent's exit code when it is a plausible one, else 1 (a confused agent cannot make it 0)."""
    return value if isinstance(value, int) and 0 < value < 256 else 1


def show_on_terminal(line: str) -> None:
    """Write ``line`` to the controlling terminal; else a desktop notification; else stderr.

    The AWS CLI captures a ``credential_process``'s stderr, so the terminal is the one
    place the person sees "touch your key" while the CLI seems to hang.
    """
    from rasign.textsafe import clean

    line = clean(line)
    try:
        fd = os.open("/dev/tty", os.O_WRONLY | os.O_NOCTTY)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            os.write(fd, (line + "\n").encode("utf-8", "replace"))
            return
        except OSError:
            pass
        finally:
            os.close(fd)
    import shutil
    import subprocess

    if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and shutil.which("notify-send"):
        try:
            subprocess.run(["notify-send", "rasign", line], timeout=5, check=False, capture_output=True)
            return
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except OSError:
        pass


def run_fast_path(argv: list[str]) -> int | None:
    """``credential-process`` through the agent: the exit code, or None to run normally."""
    try:
        output = credential_process(argv)
    except AgentFailed as err:
        sys.stderr.write(f"rasign: error: {err.line}\n")
        return err.exit_code
    if output is None:
        return None
    sys.stdout.write(output)
    sys.stdout.flush()
    return 0
