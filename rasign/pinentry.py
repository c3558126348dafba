"""Ask for one secret through a pinentry program, the dialog gpg-agent uses. Standard library only.

Why: the AWS CLI started from an IDE, a desktop launcher or a GUI tool has no terminal, so
the ``/dev/tty`` prompt of :mod:`rasign.secrets` cannot work there. ``RASIGN_PINENTRY``
names a pinentry program (``pinentry-gnome3``, ``pinentry-qt``, ``pinentry-mac``,
``pinentry-curses``, ``pinentry-tty``, ...); every interactive PIN or password prompt then
goes to it, with or without a terminal. The agent client imports this module on its fast
path, hence the standard library only, and ``subprocess`` only when a prompt is really made.

The conversation is the Assuan protocol as the pinentry manual describes it: the program
greets with ``OK``; rasign sends ``OPTION ttyname=``/``ttytype=`` when a terminal is known
(``$GPG_TTY``, else the controlling terminal's name), ``SETTITLE``, ``SETDESC``,
``SETPROMPT``, optionally ``SETERROR``, ``SETTIMEOUT`` and ``GETPIN``; the program answers
``D`` lines (percent-escaped data) and ``OK``, or ``ERR CODE TEXT`` (83886179 when the user
cancelled); rasign ends with ``BYE``.

Nothing waits forever: the whole conversation has a deadline (``RASIGN_PINENTRY_TIMEOUT``,
default 120 s), after which the program is killed. A program that is missing, exits early,
speaks something else or sends endless lines gets one :class:`ConfigError` line naming it;
a cancelled or timed-out dialog is an :class:`AuthenticationError` (exit 6, as "no PIN was
entered"). The secret is never logged; the program's stderr goes to /dev/null (pinentry's
``--debug`` output there can contain the passphrase), and the program gets no ``RASIGN_*``
or ``AWS_*`` variable (they may hold PINs and keys).
"""

from __future__ import annotations

import os
from typing import Any

from rasign.errors import AuthenticationError, ConfigError

PROGRAM_ENV = "RASIGN_PINENTRY"
TIMEOUT_ENV = "RASIGN_PINENTRY_TIMEOUT"
DEFAULT_TIMEOUT = 120.0
"""Seconds a person has to answer the dialog; the program is then stopped."""
MAX_TIMEOUT = 86400.0
"""More than a day is a typo."""
GRACE = 1.0
"""Seconds after its own SETTIMEOUT that a pinentry gets to close its dialog before it is killed
(a killed pinentry-tty would leave the terminal without echo)."""

MAX_LINE = 4096
"""Longest line accepted from the program: Assuan lines are at most 1000 bytes."""
MAX_LINES = 256
"""Lines accepted in one reply: status and comment lines beyond this are a loop, not a dialog."""
MAX_SECRET = 16 * 1024
"""Bytes of decoded secret accepted (every pinentry supports at least 2048 characters)."""
SEND_LIMIT = 1000
"""Longest line rasign sends, the Assuan line length."""

_CANCELLED = frozenset({99, 198})
"""GPG_ERR_CANCELED and GPG_ERR_FULLY_CANCELED, the low 16 bits of ERR 83886179 / 83886278."""
_TIMED_OUT = 62
"""GPG_ERR_TIMEOUT: the pinentry's own SETTIMEOUT expired."""

_FIX = "unset RASIGN_PINENTRY to be asked on the terminal, or set it to a pinentry program"


def configured(environ: Any = None) -> str | None:
    """The program ``$RASIGN_PINENTRY`` names, as a path; None when unset or empty.

    Raises :class:`ConfigError` when it names no executable file, so the mistake is
    reported (when a prompt is due, or by ``rasign doctor``) before anything is typed.
    """
    source = os.environ if environ is None else environ
    value = source.get(PROGRAM_ENV, "")
    if not value:
        return None
    from rasign.textsafe import clean

    shown = clean(value, limit=200)
    if "/" in value:
        path = os.path.abspath(value)
        if not os.path.isfile(path):
            raise ConfigError(f"RASIGN_PINENTRY={shown} does not exist", hint=_example_fix())
        if not os.access(path, os.X_OK):
            raise ConfigError(f"RASIGN_PINENTRY={shown} is not executable", hint=f"chmod +x it, or {_FIX}")
        return path
    found = _on_path(value, source.get("PATH", os.defpath))
    if found is None:
        raise ConfigError(f"RASIGN_PINENTRY={shown} is not a program on PATH", hint=_example_fix())
    return found


def check() -> bool:
    """Check ``$RASIGN_PINENTRY`` and ``$RASIGN_PINENTRY_TIMEOUT`` before a prompt; True when one is set.

    Raises :class:`ConfigError` naming the variable and the fix.
    """
    if configured() is None:
        return False
    timeout_from_env()
    return True


def _example_fix() -> str:
    return f"install it or give its absolute path (e.g. /usr/bin/pinentry-gnome3), or {_FIX}"


def _on_path(name: str, search: str) -> str | None:
    for directory in search.split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    return None


def timeout_from_env(environ: Any = None) -> float:
    """``$RASIGN_PINENTRY_TIMEOUT`` in seconds (default :data:`DEFAULT_TIMEOUT`); ConfigError when malformed."""
    source = os.environ if environ is None else environ
    raw = source.get(TIMEOUT_ENV, "")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_TIMEOUT:  # also refuses NaN
        from rasign.textsafe import clean

        raise ConfigError(
            f"RASIGN_PINENTRY_TIMEOUT={clean(raw, limit=40)} is not a number of seconds",
            hint=f"give a number between 0 and {MAX_TIMEOUT:g}, e.g. RASIGN_PINENTRY_TIMEOUT=120",
        )
    return value


def terminal_name(environ: Any = None) -> str | None:
    """The terminal a text-mode pinentry should use: ``$GPG_TTY``, else this process's terminal, else None."""
    source = os.environ if environ is None else environ
    explicit = source.get("GPG_TTY")
    if explicit:
        return str(explicit)
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.ttyname(fd)
        except OSError:
            continue
    return _controlling_terminal()


def _controlling_terminal() -> str | None:
    """The controlling terminal's device path, read from /proc (stdin/stdout/stderr may all be pipes)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        number = int(fields[4])
    except (OSError, IndexError, ValueError):
        return None
    if number == 0:
        return None
    major = (number >> 8) & 0xFFF
    minor = (number & 0xFF) | ((number >> 12) & 0xFFF00)
    if 136 <= major <= 143:  # Unix98 pseudo-terminal slaves
        candidate = f"/dev/pts/{(major - 136) * 256 + minor}"
    elif major == 4 and minor < 64:  # virtual consoles
        candidate = f"/dev/tty{minor}"
    else:
        return None
    try:
        if os.stat(candidate).st_rdev == os.makedev(major, minor):
            return candidate
    except OSError:
        pass
    return None


def escape(text: str) -> str:
    """Percent-escape ``text`` for an Assuan command: ``%``, CR, LF and every other control character."""
    return "".join(
        f"%{ord(char):02X}" if char == "%" or ord(char) < 0x20 or ord(char) == 0x7F else char for char in text
    )


def unescape(data: bytes) -> bytes:
    """Decode the percent escapes of a ``D`` line (``%25``, ``%0A``, ``%0D`` and any ``%XX``)."""
    if b"%" not in data:
        return data
    out = bytearray()
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == 0x25 and _is_hex(data[index + 1 : index + 3]):
            out.append(int(data[index + 1 : index + 3], 16))
            index += 3
        else:
            out.append(byte)
            index += 1
    return bytes(out)


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(chr(b) in "0123456789abcdefABCDEF" for b in pair)


def command(name: str, text: str) -> bytes:
    """``NAME escaped-text`` as one line, the text shortened so the line fits :data:`SEND_LIMIT`."""
    budget = SEND_LIMIT - len(name) - 1
    parts: list[str] = []
    for char in text:
        piece = escape(char)
        size = len(piece.encode("utf-8"))
        if size > budget:
            break
        parts.append(piece)
        budget -= size
    return f"{name} {''.join(parts)}\n".encode()


def ask(
    prompt: str,
    *,
    what: str = "PIN",
    error: str | None = None,
    program: str | None = None,
    timeout: float | None = None,
) -> str:
    """Ask for one secret through the pinentry program; return it ("" when the person entered nothing).

    ``prompt`` is the text the terminal prompt would show (it may carry a token label or a
    file name, so it is cleaned of control characters); ``error`` an optional line shown
    above it (SETERROR). ``program`` defaults to ``$RASIGN_PINENTRY`` and ``timeout`` to
    ``$RASIGN_PINENTRY_TIMEOUT``. Raises :class:`AuthenticationError` when the dialog was
    cancelled or timed out and :class:`ConfigError` when the program is broken.
    """
    path = program or configured()
    if path is None:
        raise ConfigError("no pinentry program is configured", hint="set RASIGN_PINENTRY to a pinentry program")
    limit = timeout if timeout is not None else timeout_from_env()
    dialog = _Dialog(path, limit)
    try:
        dialog.greet()
        dialog.setup(prompt, what, error)
        return dialog.get_pin(what)
    except BaseException as err:
        if not isinstance(err, AuthenticationError):  # a broken program gets no BYE, it is stopped
            dialog.kill()
        raise
    finally:
        dialog.close()


class _Dialog:
    """One running pinentry program and the Assuan conversation with it."""

    def __init__(self, path: str, timeout: float) -> None:
        import subprocess
        import time

        self.path = path
        self.timeout = timeout
        self._now = time.monotonic
        self.deadline = time.monotonic() + timeout + min(GRACE, timeout)
        self._buffer = bytearray()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RASIGN_", "AWS_"))}
        try:
            self.process = subprocess.Popen(
                [path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
                start_new_session=True,  # no job-control signals from the user's terminal
            )
        except OSError as err:
            raise self.broken(f"could not be started ({err.strerror or err})") from None
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in = self.process.stdin.fileno()
        self._out = self.process.stdout.fileno()
        os.set_blocking(self._in, False)

    # -- errors ------------------------------------------------------------------------------

    def _name(self) -> str:
        from rasign.textsafe import clean

        return clean(self.path, limit=200)

    def broken(self, what: str) -> ConfigError:
        """The one-line error for a program that does not speak the pinentry protocol."""
        return ConfigError(
            f"the pinentry program {self._name()} {what}",
            hint=f"set RASIGN_PINENTRY to a working pinentry (try: echo GETPIN | {self._name()}), or unset it",
        )

    def timed_out(self) -> AuthenticationError:
        self.kill()
        return AuthenticationError(
            f"the pinentry program {self._name()} did not answer within {self.timeout:g} s and was stopped",
            hint="answer the dialog sooner, or raise RASIGN_PINENTRY_TIMEOUT",
        )

    # -- the conversation ---------------------------------------------------------------------

    def greet(self) -> None:
        _, code, text = self.reply()
        if code is not None:
            raise self.broken(f"refused to start: {_shown(text)}")

    def setup(self, prompt: str, what: str, error: str | None) -> None:
        from rasign.textsafe import clean

        tty = terminal_name()
        if tty:
            self.optional(command("OPTION", f"ttyname={tty}"))
            term = os.environ.get("TERM")
            if term:
                self.optional(command("OPTION", f"ttytype={term}"))
            locale = os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG")
            if locale:
                self.optional(command("OPTION", f"lc-ctype={locale}"))
        self.optional(command("SETTITLE", "rasign"))
        self.required("SETDESC", command("SETDESC", clean(prompt, limit=400).rstrip(": ") or f"Enter the {what}"))
        self.required("SETPROMPT", command("SETPROMPT", "PIN:" if "PIN" in what.split() else "Password:"))
        if error:
            self.required("SETERROR", command("SETERROR", clean(error, limit=300)))
        self.optional(command("SETTIMEOUT", str(max(1, int(self.timeout + 0.999)))))

    def optional(self, line: bytes) -> None:
        """A command an older or simpler pinentry may refuse (OPTION, SETTITLE, SETTIMEOUT)."""
        self.send(line)
        self.reply()

    def required(self, name: str, line: bytes) -> None:
        self.send(line)
        _, code, text = self.reply()
        if code is not None:
            raise self.broken(f"refused {name}: {_shown(text)}")

    def get_pin(self, what: str) -> str:
        self.send(b"GETPIN\n")
        data, code, text = self.reply()
        if code is None:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise self.broken("returned a secret that is not UTF-8") from None
        if code & 0xFFFF in _CANCELLED:
            raise AuthenticationError(
                f"the {what} prompt was cancelled in {self._name()}", hint="run the command again and enter it"
            )
        if code & 0xFFFF == _TIMED_OUT:
            raise AuthenticationError(
                f"no {what} was entered in {self._name()} within {self.timeout:g} s",
                hint="answer the dialog sooner, or raise RASIGN_PINENTRY_TIMEOUT",
            )
        raise AuthenticationError(
            f"the pinentry program {self._name()} could not ask for the {what}: {_shown(text)}",
            hint="pinentry-curses and pinentry-tty need a terminal (GPG_TTY), the graphical ones a desktop session",
        )

    def send(self, line: bytes) -> None:
        import select

        view = memoryview(line)
        while view:
            if not self._wait(self._in, select.POLLOUT):
                raise self.timed_out()
            try:
                written = os.write(self._in, view)
            except BlockingIOError:
                continue
            except OSError:
                raise self.broken(f"stopped before answering{self._status()}") from None
            view = view[written:]

    def reply(self) -> tuple[bytes, int | None, str]:
        """Read up to ``OK`` or ``ERR``: the decoded data, the error code (None for OK) and its text."""
        data = bytearray()
        for _ in range(MAX_LINES):
            line = self.line()
            if line == b"OK" or line.startswith(b"OK "):
                return bytes(data), None, ""
            if line == b"ERR" or line.startswith(b"ERR "):
                return bytes(data), *_error(line)
            if line.startswith(b"D "):
                data += unescape(line[2:])
                if len(data) > MAX_SECRET:
                    raise self.broken(f"sent more than {MAX_SECRET} bytes of data")
            elif not (line.startswith((b"S ", b"#")) or line == b"S"):
                raise self.broken("answered something that is not the pinentry (Assuan) protocol")
        raise self.broken(f"sent more than {MAX_LINES} lines for one command")

    def line(self) -> bytes:
        import select

        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                self._buffer[: end + 1] = b"\0" * (end + 1)  # overwrite what may be the secret
                del self._buffer[: end + 1]
                return line.rstrip(b"\r")
            if len(self._buffer) > MAX_LINE:
                raise self.broken(f"sent a line longer than {MAX_LINE} bytes")
            if not self._wait(self._out, select.POLLIN):
                raise self.timed_out()
            chunk = os.read(self._out, MAX_LINE)
            if not chunk:
                raise self.broken(f"stopped before answering{self._status()}")
            self._buffer += chunk

    def _wait(self, fd: int, event: int) -> bool:
        """Wait until ``fd`` is ready (or closed) before the deadline; poll(), not select(): any fd number works."""
        import select

        remaining = self.deadline - self._now()
        if remaining <= 0:
            return False
        poller = select.poll()
        poller.register(fd, event)
        return bool(poller.poll(max(1, int(remaining * 1000 + 0.999))))

    def _status(self) -> str:
        import subprocess

        try:
            code = self.process.wait(0.2)
        except subprocess.TimeoutExpired:  # still running: it closed its output only
            return ""
        return f" (exit status {code})" if code >= 0 else f" (killed by signal {-code})"

    # -- the end -----------------------------------------------------------------------------

    def kill(self) -> None:
        """Kill the program and whatever it started (it leads its own process group)."""
        import signal

        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                self.process.kill()
            self.process.wait()

    def close(self) -> None:
        """Say BYE and let the program exit; kill it when it lingers."""
        import subprocess

        if self.process.poll() is None:
            try:
                os.write(self._in, b"BYE\n")
            except OSError:
                pass
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        try:
            self.process.wait(1.0)
        except subprocess.TimeoutExpired:
            self.kill()
        self._buffer[:] = b"\0" * len(self._buffer)


def _error(line: bytes) -> tuple[int, str]:
    """The code and text of an ``ERR CODE TEXT`` line (code 0 when it has none)."""
    parts = line.split(b" ", 2)
    try:
        code = int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        code = 0
    text = parts[2] if len(parts) > 2 else b""
    return code, unescape(text).decode("utf-8", "replace")


def _shown(text: str) -> str:
    from rasign.textsafe import clean

    return clean(text, limit=200) or "no reason given"
