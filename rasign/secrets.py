"""Where PINs and passwords come from, in one place for every backend.

Sources, in the order backends consult them: an explicit value (flag or URI
``pin-value``), a file (``pin-source``/``--...-file``), an environment variable, and as a
last resort a prompt: on the controlling terminal, or through the pinentry program
``$RASIGN_PINENTRY`` names (:mod:`rasign.pinentry`), which needs no terminal.

The prompt reads and writes ``/dev/tty`` directly, never stdin/stdout: the AWS CLI runs
``credential_process`` with both captured, and stdout must carry only the JSON. Where no
terminal exists (cron, systemd, CI) the prompt fails at once with an error that says which
non-interactive source to use, instead of hanging or reading garbage.

Nothing here logs or caches a secret; callers keep them only as long as they must.
"""

from __future__ import annotations

import os

from rasign.errors import AuthenticationError, KeyLoadError

TTY_PATH = "/dev/tty"


_HELD: dict[str, str] = {}
"""Secret environment variables removed from ``os.environ`` by :func:`hold_environment`.

Long-running commands drop PINs and passwords from their environment (``/proc/PID/environ``
and every child would see them), but a token reset may need the PIN again hours later:
the value then lives only here, in the memory of a non-dumpable process.
"""

MAX_SECRET_FILE_BYTES = 64 * 1024
"""A PIN or password file larger than this is a wrong path, not a secret."""


def read_secret_file(path: str, what: str = "PIN") -> str:
    """Read a secret from a file, dropping one trailing newline (``echo`` adds it).

    The file must be a regular file of UTF-8 text: a device, FIFO or directory, a huge
    file or undecodable bytes each get a one-line error naming the file and the fix; the
    content never appears in the message.
    """
    from rasign.localfile import NotReadable, read_regular

    try:
        raw = read_regular(path, limit=MAX_SECRET_FILE_BYTES)
    except NotReadable as problem:
        raise KeyLoadError(
            f"cannot read the {what} file {path}: {problem.reason}",
            hint=f"point it at a readable file that holds only the {what}",
        ) from problem
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise KeyLoadError(
            f"the {what} file {path} is not UTF-8 text (undecodable byte at offset {err.start})",
            hint=f"save the {what} as UTF-8 text, e.g. printf '%s' 'THE-{what.upper().replace(' ', '-')}' > {path}",
        ) from None
    if value.startswith("\ufeff"):
        value = value[1:]  # a byte-order mark written by some Windows editors
    if value.endswith("\r\n"):
        value = value[:-2]
    elif value.endswith("\n"):
        value = value[:-1]
    if "\x00" in value:
        raise KeyLoadError(
            f"the {what} file {path} contains a NUL byte",
            hint=f"the file must hold only the {what} as text",
        )
    return value


def secret_from_env(name: str) -> str | None:
    """The value of environment variable ``name``, or None when unset or empty.

    A variable already dropped from the environment by :func:`hold_environment` is still
    answered from memory.
    """
    value = os.environ.get(name)
    if not value:
        value = _HELD.get(name)
    return value if value else None


def hold_secret(name: str, value: str) -> None:
    """Keep ``value`` in memory under ``name``, answered by :func:`secret_from_env` (the agent's typed PINs)."""
    _HELD[name] = value


def forget_secret(name: str) -> None:
    """Drop a secret kept by :func:`hold_secret` or :func:`hold_environment`."""
    _HELD.pop(name, None)


_WATCHED: set[str] = set()


def watch_secret_env(name: str) -> None:
    """Declare that environment variable ``name`` holds a secret (custom ``--...-env NAME``)."""
    _WATCHED.add(name)


def hold_environment(names: tuple[str, ...] = ()) -> list[str]:
    """Move secret variables from ``os.environ`` into this module's memory; return their names.

    Covers ``names``, every name passed to :func:`watch_secret_env`, and the variables
    the built-in backends read.
    """
    moved = []
    for name in (*names, *sorted(_WATCHED)):
        value = os.environ.pop(name, None)  # pop also calls unsetenv()
        if value is not None:
            if value:
                _HELD[name] = value
            moved.append(name)
    return moved


def prompt_tty(prompt: str, *, what: str = "PIN", how_to_avoid: str | None = None) -> str:
    """Ask for a secret on the controlling terminal without echo, or through ``$RASIGN_PINENTRY``.

    With ``RASIGN_PINENTRY`` set the pinentry program asks instead, terminal or not (the
    AWS CLI started from an IDE has none). Raises :class:`AuthenticationError` when there
    is no terminal (and no pinentry); ``how_to_avoid`` names the non-interactive source the
    user should configure instead.
    """
    from rasign import pinentry

    program = pinentry.configured()
    if program is not None:
        return pinentry.ask(prompt, what=what, program=program)
    hint = how_to_avoid or "provide it non-interactively"
    try:
        fd = os.open(TTY_PATH, os.O_RDWR | os.O_NOCTTY)
    except OSError as err:
        raise AuthenticationError(
            f"a {what} is needed but there is no terminal to ask for it",
            hint=hint,
        ) from err
    try:
        return _read_without_echo(fd, prompt)
    except (OSError, EOFError) as err:
        raise AuthenticationError(f"could not read the {what} from the terminal", hint=hint) from err
    finally:
        os.close(fd)


def _read_without_echo(fd: int, prompt: str) -> str:
    import termios

    old = termios.tcgetattr(fd)
    new = termios.tcgetattr(fd)
    new[3] &= ~termios.ECHO
    try:
        # Echo goes off before the prompt appears, so nothing typed after it is lost.
        termios.tcsetattr(fd, termios.TCSAFLUSH, new)
        os.write(fd, prompt.encode("utf-8", "replace"))
        chunks = []
        while True:
            chunk = os.read(fd, 1)
            if not chunk:
                raise EOFError
            if chunk in (b"\n", b"\r"):
                break
            chunks.append(chunk)
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, old)
        os.write(fd, b"\n")
    return b"".join(chunks).decode("utf-8")
