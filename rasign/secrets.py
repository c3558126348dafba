"""Where PINs and passwords come from, in one place for every backend.

Sources, in the order backends consult them: an explicit value (flag or URI
``pin-value``), a file (``pin-source``/``--...-file``), an environment variable, and as a
last resort a prompt on the controlling terminal.

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


def read_secret_file(path: str, what: str = "PIN") -> str:
    """Read a secret from a file, dropping one trailing newline (``echo`` adds it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read()
    except OSError as err:
        raise KeyLoadError(
            f"cannot read the {what} file {path}: {err.strerror or err}",
            hint="check the path and that this user may read it",
        ) from err
    if value.endswith("\r\n"):
        value = value[:-2]
    elif value.endswith("\n"):
        value = value[:-1]
    return value


def secret_from_env(name: str) -> str | None:
    """The value of environment variable ``name``, or None when unset or empty."""
    value = os.environ.get(name)
    return value if value else None


def prompt_tty(prompt: str, *, what: str = "PIN", how_to_avoid: str | None = None) -> str:
    """Ask for a secret on the controlling terminal without echo.

    Raises :class:`AuthenticationError` when there is no terminal; ``how_to_avoid`` names
    the non-interactive source the user should configure instead.
    """
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


def first_secret(*, value: str | None = None, file: str | None = None, env: str | None = None, what: str = "PIN") -> str | None:
    """The first non-interactive source that yields a secret, or None."""
    if value is not None and value != "":
        return value
    if file:
        return read_secret_file(file, what)
    if env:
        return secret_from_env(env)
    return None
