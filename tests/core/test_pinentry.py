"""rasign.pinentry against the real pinentry-tty on a pty, and against broken programs.

The happy paths use Debian's pinentry-tty (scripts/bootstrap.sh installs it): this process has
a pty only as GPG_TTY, the typist answers on it. The broken programs are small shell scripts
that each fail one way (missing, exits at once, cancels, garbage, endless line, silence): every
one must end in one line naming the program, never a hang or a traceback.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from rasign import pinentry
from rasign.errors import EXIT_CODES, AuthenticationError, ConfigError
from rasign.secrets import prompt_tty
from tests.support.pinentry_tty import Typist


@pytest.fixture
def pinentry_env(monkeypatch):
    """Set the environment variables of one test (and nothing inherited from the host)."""
    for name in (pinentry.PROGRAM_ENV, pinentry.TIMEOUT_ENV, "GPG_TTY"):
        monkeypatch.delenv(name, raising=False)

    def apply(values: dict[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return apply


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


# A pinentry that logs what it receives (no secret: rasign sends none) and answers GETPIN with $ANSWER.
RECORDER = """\
echo "OK Pleased to meet you"
while IFS= read -r line; do
  printf '%s\\n' "$line" >> "$0.log"
  case "$line" in
    GETPIN) printf '%b' "$ANSWER" ;;
    BYE) echo "OK closing connection"; exit 0 ;;
    *) echo OK ;;
  esac
done
"""


def _recorder(tmp_path: Path, answer: str) -> str:
    """A recording pinentry answering GETPIN with ``answer`` (printf %b: backslash escapes only)."""
    return _script(tmp_path, "recorder", RECORDER.replace("$ANSWER", answer))


# -- the real pinentry-tty ----------------------------------------------------------------------


def test_secret_typed_in_pinentry_tty_comes_back_exactly(pinentry_env):
    secret = "p%n 50%25 ü"  # a percent sign, a would-be escape, a space and UTF-8: pinentry escapes them
    with Typist([secret.encode() + b"\n"]) as typist:
        pinentry_env(typist.env)
        got = prompt_tty("Please enter your user PIN for token rasign-a: ", what="PIN")
    assert got == secret
    assert typist.prompts == 1
    assert "Please enter your user PIN for token rasign-a" in typist.text()
    assert secret not in typist.text()  # typed without echo


def test_pinentry_tty_shows_the_error_line_and_cleans_outside_text(pinentry_env):
    with Typist([b"1234\n"]) as typist:
        pinentry_env(typist.env)
        got = pinentry.ask("PIN for token \x1b]0;owned\x07evil: ", what="PIN", error="wrong PIN\x1b[2J, 2 tries left")
    assert got == "1234"
    text = typist.text()
    assert "wrong PIN?[2J, 2 tries left" in text  # SETERROR shown, its escape sequence defused
    assert "\x1b]0;owned" not in text and "PIN for token ?]0;owned?evil" in text


def test_nothing_typed_is_an_empty_answer_as_on_the_terminal(pinentry_env):
    with Typist([b"\n"]) as typist:
        pinentry_env(typist.env)
        assert pinentry.ask("PIN: ") == ""


def test_ctrl_d_in_pinentry_tty_is_a_cancel_with_the_no_pin_exit_code(pinentry_env):
    with Typist([b"\x04"]) as typist:
        pinentry_env(typist.env)
        with pytest.raises(AuthenticationError) as caught:
            prompt_tty("PIN: ", what="PIN")
    assert caught.value.exit_code == EXIT_CODES["AuthenticationError"]
    assert "PIN prompt was cancelled" in caught.value.one_line()
    assert typist.prompts == 1  # never asked again


# -- configuration --------------------------------------------------------------------------------


def test_unset_or_empty_means_no_pinentry(pinentry_env):
    assert pinentry.configured() is None
    pinentry_env({pinentry.PROGRAM_ENV: ""})
    assert pinentry.configured() is None and pinentry.check() is False


def test_a_name_is_looked_up_on_path(pinentry_env, tmp_path):
    program = _script(tmp_path, "pinentry-fake", "exit 0\n")
    pinentry_env({pinentry.PROGRAM_ENV: "pinentry-fake", "PATH": f"/nonexistent:{tmp_path}"})
    assert pinentry.configured() == program


@pytest.mark.parametrize(
    "value, words",
    [
        ("pinentry-does-not-exist", "is not a program on PATH"),
        ("/nonexistent/pinentry", "does not exist"),
    ],
)
def test_missing_program_is_a_config_error_naming_the_variable(pinentry_env, value, words):
    pinentry_env({pinentry.PROGRAM_ENV: value})
    with pytest.raises(ConfigError) as caught:
        pinentry.check()
    line = caught.value.one_line()
    assert f"RASIGN_PINENTRY={value} {words}" in line and "absolute path" in line
    assert caught.value.exit_code == EXIT_CODES["ConfigError"]


def test_program_that_is_not_executable_is_a_config_error(pinentry_env, tmp_path):
    path = tmp_path / "pinentry-plain"
    path.write_text("#!/bin/sh\n")
    pinentry_env({pinentry.PROGRAM_ENV: str(path)})
    with pytest.raises(ConfigError, match="is not executable"):
        pinentry.configured()


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "1e9"])
def test_malformed_timeout_is_a_config_error(pinentry_env, tmp_path, value):
    pinentry_env({pinentry.PROGRAM_ENV: _script(tmp_path, "p", "exit 0\n"), pinentry.TIMEOUT_ENV: value})
    with pytest.raises(ConfigError, match="RASIGN_PINENTRY_TIMEOUT"):
        pinentry.check()


def test_terminal_from_gpg_tty_first(pinentry_env):
    pinentry_env({"GPG_TTY": "/dev/pts/77"})
    assert pinentry.terminal_name() == "/dev/pts/77"


# -- the protocol, through recording programs -----------------------------------------------------


def test_what_is_sent_is_escaped_and_bounded(pinentry_env, tmp_path):
    program = _recorder(tmp_path, "D a%25b%0Ac\\nOK\\n")
    pinentry_env({"GPG_TTY": "/dev/pts/5", "TERM": "xterm"})
    long_label = "x" * 5000
    got = pinentry.ask(f"PIN for 100% {long_label}\r\nfake line: ", what="PIN", program=program)
    assert got == "a%b\nc"  # %25 and %0A decoded
    sent = Path(program + ".log").read_text().splitlines()
    assert sent[:2] == ["OPTION ttyname=/dev/pts/5", "OPTION ttytype=xterm"]
    desc = next(line for line in sent if line.startswith("SETDESC "))
    assert desc.startswith("SETDESC PIN for 100%25 xxx") and len(desc.encode()) <= pinentry.SEND_LIMIT
    assert "\r" not in desc and "fake line" not in desc  # cut by the length limit, CR/LF never raw
    assert "SETPROMPT PIN:" in sent and "SETTITLE rasign" in sent and sent[-2:] == ["GETPIN", "BYE"]


def test_password_prompt_and_no_terminal_options_without_a_terminal(pinentry_env, tmp_path, monkeypatch):
    program = _recorder(tmp_path, "D pw\\nOK\\n")
    monkeypatch.setattr(pinentry, "terminal_name", lambda: None)  # as under a desktop launcher
    assert pinentry.ask("Enter the password for the private key k.pem: ", what="password", program=program) == "pw"
    sent = Path(program + ".log").read_text().splitlines()
    assert not any(line.startswith("OPTION tty") for line in sent)
    assert "SETPROMPT Password:" in sent and "SETDESC Enter the password for the private key k.pem" in sent


def test_escape_and_unescape_round_trip():
    text = "50% off\r\nnext\x00\x7f"
    assert pinentry.escape(text) == "50%25 off%0D%0Anext%00%7F"
    assert pinentry.unescape(pinentry.escape(text).encode()) == text.encode()
    assert pinentry.unescape(b"%zz%4") == b"%zz%4"  # not an escape: kept as it is


# -- broken programs: one line each, never a hang ---------------------------------------------------

GREET_THEN = (
    'echo "OK hello"\nwhile IFS= read -r line; do case "$line" in GETPIN) {getpin} ;; *) echo OK ;; esac; done\n'
)


@pytest.mark.parametrize(
    "name, body, error, words",
    [
        ("exits", "exit 3\n", ConfigError, "stopped before answering (exit status 3)"),
        ("garbage", "echo 'HTTP/1.1 200 OK'\nsleep 5\n", ConfigError, "is not the pinentry (Assuan) protocol"),
        ("endless", "head -c 200000 /dev/zero | tr '\\0' x\nsleep 5\n", ConfigError, "a line longer than 4096"),
        ("loop", GREET_THEN.format(getpin="yes 'S PROGRESS'"), ConfigError, "more than 256 lines"),
        ("refuses", 'echo "ERR 83886254 Not supported"\n', ConfigError, "refused to start: Not supported"),
        (
            "cancels",
            GREET_THEN.format(getpin='echo "ERR 83886179 Operation cancelled <Pinentry>"'),
            AuthenticationError,
            "the PIN prompt was cancelled",
        ),
        (
            "no-display",
            GREET_THEN.format(getpin='echo "ERR 83918950 Inappropriate ioctl for device <Pinentry>"'),
            AuthenticationError,
            "could not ask for the PIN: Inappropriate ioctl for device",
        ),
        (
            "huge-secret",
            GREET_THEN.format(getpin="while :; do echo \"D $(printf '%0900d' 0)\"; done"),
            ConfigError,
            "more than 16384 bytes",
        ),
        ("not-utf8", GREET_THEN.format(getpin="echo 'D %FF%FE'; echo OK"), ConfigError, "not UTF-8"),
    ],
)
def test_broken_program_is_one_line_naming_it(pinentry_env, tmp_path, name, body, error, words):
    program = _script(tmp_path, f"pinentry-{name}", body)
    pinentry_env({pinentry.PROGRAM_ENV: program, pinentry.TIMEOUT_ENV: "20"})
    started = time.monotonic()
    with pytest.raises(error) as caught:
        prompt_tty("PIN: ", what="PIN")
    line = caught.value.one_line()
    assert words in line and program in line and "\n" not in line
    assert time.monotonic() - started < 10  # decided on the answer, not on the 20 s timeout


def test_program_that_never_answers_is_killed_at_the_timeout(pinentry_env, tmp_path):
    pidfile = tmp_path / "pid"
    program = _script(tmp_path, "pinentry-silent", GREET_THEN.format(getpin=f"echo $$ > {pidfile}; exec sleep 60"))
    pinentry_env({pinentry.PROGRAM_ENV: program, pinentry.TIMEOUT_ENV: "0.3"})
    with pytest.raises(AuthenticationError) as caught:
        prompt_tty("PIN: ", what="PIN")
    assert "did not answer within 0.3 s and was stopped" in caught.value.one_line()
    assert "RASIGN_PINENTRY_TIMEOUT" in caught.value.one_line()
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped, not left behind
