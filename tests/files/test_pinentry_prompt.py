"""credential-process asks for a PKCS#8 password through RASIGN_PINENTRY, with no terminal of its own.

This is the case the setting exists for: the AWS CLI started from an IDE runs rasign without a
controlling terminal. rasign runs here in a new session (no /dev/tty), the real pinentry-tty
asks on the pty that GPG_TTY names, and the emulator checks the signature made with the key.
"""

from __future__ import annotations

import json
import stat

import pytest

from tests.conftest import emulator_args, run_rasign
from tests.support.pinentry_tty import Typist

pytestmark = pytest.mark.network

PASSWORD = "pinentry-Pass 42%"


@pytest.fixture(scope="module")
def encrypted(pki):
    return pki.encrypted_identity(PASSWORD, stem="pinentry-encrypted")


def _args(identity, emulator, *extra: str) -> list[str]:
    cert, key = identity
    return [
        "credential-process",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        *extra,
        *emulator_args(emulator),
    ]


def _no_cache(tmp_path) -> dict[str, str]:
    return {"RASIGN_CACHE_DIR": str(tmp_path / "cache"), "RASIGN_NO_AGENT": "1"}


def test_password_typed_in_pinentry_without_a_terminal(encrypted, emulator, tmp_path):
    with Typist([PASSWORD.encode() + b"\n"]) as typist:
        done = run_rasign(*_args(encrypted, emulator), env={**typist.env, **_no_cache(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Version"] == 1
    assert typist.prompts == 1 and "Enter the password for the private key" in typist.text()
    assert PASSWORD not in done.stdout + done.stderr + typist.text()


def test_cancel_in_pinentry_is_one_line_with_the_no_pin_exit_code(encrypted, emulator, tmp_path):
    with Typist([b"\x04"]) as typist:
        done = run_rasign(*_args(encrypted, emulator), env={**typist.env, **_no_cache(tmp_path)})
    assert done.returncode == 6, done.stderr
    assert done.stderr.count("\n") == 1 and "prompt was cancelled in" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert typist.prompts == 1


def test_missing_pinentry_fails_when_a_password_is_needed_and_nowhere_else(encrypted, pki, emulator, tmp_path):
    env = {"RASIGN_PINENTRY": "/nonexistent/pinentry-gnome3", **_no_cache(tmp_path)}
    done = run_rasign(*_args(encrypted, emulator), env=env)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("rasign: error: RASIGN_PINENTRY=/nonexistent/pinentry-gnome3 does not exist")
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    # A key that needs no password never asks, so the broken setting is not in its way.
    plain = run_rasign(*_args(pki.software_identity(stem="pinentry-plain"), emulator), env=env)
    assert plain.returncode == 0 and json.loads(plain.stdout)["AccessKeyId"], plain.stderr


def test_no_prompt_wins_over_a_configured_pinentry(encrypted, emulator, tmp_path):
    marker = tmp_path / "ran"
    program = tmp_path / "pinentry-marker"
    program.write_text(f"#!/bin/sh\ntouch {marker}\necho OK\nexit 0\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    env = {"RASIGN_PINENTRY": str(program), **_no_cache(tmp_path)}
    done = run_rasign(*_args(encrypted, emulator, "--no-prompt"), env=env)
    assert done.returncode == 6, done.stderr
    assert "no password was given" in done.stderr and not marker.exists()


def test_without_gpg_tty_pinentry_uses_the_controlling_terminal(encrypted, emulator, tmp_path):
    """stdin, stdout and stderr are no terminal: the tty name comes from /proc (OPTION ttyname)."""
    with Typist([PASSWORD.encode() + b"\n"]) as typist:
        env = {"RASIGN_PINENTRY": typist.env["RASIGN_PINENTRY"], "GPG_TTY": "", "TERM": "dumb", **_no_cache(tmp_path)}
        done = typist.run_owning(_args(encrypted, emulator), env)
    assert done.returncode == 0, done.stderr + typist.text()
    assert typist.prompts == 1 and PASSWORD not in typist.text()
