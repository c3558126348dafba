"""The PIN prompt on the controlling terminal, driven through a pseudo-terminal.

The AWS CLI captures stdout and stderr of credential_process, so rasign must talk to
/dev/tty. Here the child gets a pty as its controlling terminal while stdout and stderr
stay pipes: the prompt must appear on the terminal only, and each PIN is asked once.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time

import pytest

from tests.conftest import REPO, clean_env, emulator_args

pytestmark = [pytest.mark.softhsm, pytest.mark.network, pytest.mark.pkcs11_pty]


def _wait_for_echo_off(master: int, limit: float = 5.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end and termios.tcgetattr(master)[3] & termios.ECHO:
        time.sleep(0.01)
    time.sleep(0.05)


def run_with_terminal(
    args: list[str], answers: list[str], env: dict[str, str], timeout: float = 30
) -> tuple[subprocess.CompletedProcess, str]:
    """Run rasign with a pty as controlling terminal; answer each prompt in turn."""
    master, slave = pty.openpty()

    def become_terminal_owner() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "rasign", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(env),
        pass_fds=(slave,),
        cwd=REPO,
        preexec_fn=become_terminal_owner,  # noqa: PLW1509 - setsid + TIOCSCTTY must run in the child
    )
    os.close(slave)
    transcript, pending = "", list(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096).decode("utf-8", "replace")
            except OSError:  # the child closed the terminal
                break
            transcript += chunk
            if transcript.rstrip().endswith(":") and pending:
                _wait_for_echo_off(master)  # typing before the prompt turned echo off would be flushed
                os.write(master, (pending.pop(0) + "\n").encode())
                transcript += "<answered>\n"
        elif proc.poll() is not None:
            break
    stdout, stderr = proc.communicate(timeout=timeout)
    os.close(master)
    return subprocess.CompletedProcess(args, proc.returncode, stdout.decode(), stderr.decode()), transcript


def test_user_pin_prompt_on_the_terminal_only(hsm, emulator):
    done, tty = run_with_terminal(
        [
            "credential-process",
            "--pkcs11-lib",
            hsm.module,
            "--certificate",
            "pkcs11:token=rasign-a;object=ec-p256",
            "--no-cache",
            *emulator_args(emulator),
        ],
        ["1234"],
        hsm.env,
    )
    assert done.returncode == 0, done.stderr + tty
    assert json.loads(done.stdout)["AccessKeyId"]
    assert tty.count("user PIN") == 1 and "1234" not in tty  # no echo
    assert "PIN" not in done.stderr


def test_wrong_typed_pin_is_not_asked_again(hsm, emulator):
    done, tty = run_with_terminal(
        [
            "credential-process",
            "--pkcs11-lib",
            hsm.module,
            "--certificate",
            "pkcs11:token=rasign-b;object=ec-p256",
            "--no-cache",
            *emulator_args(emulator),
        ],
        ["0000", "5678"],
        hsm.env,
    )
    assert done.returncode == 6, done.stderr
    assert "CKR_PIN_INCORRECT" in done.stderr
    assert tty.count("PIN") == 1, tty  # one prompt, one attempt


def test_always_authenticate_prompts_once_for_each_pin(hsm, emulator):
    done, tty = run_with_terminal(
        [
            "credential-process",
            "--pkcs11-lib",
            hsm.module,
            "--certificate",
            "pkcs11:token=rasign-a;object=ec-p256-always-auth",
            "--no-cache",
            *emulator_args(emulator),
        ],
        ["1234", "1234"],
        hsm.env,
    )
    assert done.returncode == 0, done.stderr + tty
    assert tty.count("user PIN") == 1 and tty.count("context-specific PIN") == 1, tty


def test_reuse_pin_uses_the_typed_user_pin_for_signatures(hsm, emulator):
    done, tty = run_with_terminal(
        [
            "credential-process",
            "--pkcs11-lib",
            hsm.module,
            "--certificate",
            "pkcs11:token=rasign-a;object=rsa-2048-always-auth",
            "--reuse-pin",
            "--no-cache",
            *emulator_args(emulator),
        ],
        ["1234"],
        hsm.env,
    )
    assert done.returncode == 0, done.stderr + tty
    assert tty.count("PIN") == 1, tty


@pytest.mark.parametrize("label", ["ec-p256-always-auth", "rsa-2048-always-auth"])
def test_rejected_reuse_pin_prompts_once_then_keeps_the_typed_context_pin(hsm, options, tmp_path, monkeypatch, label):
    """--reuse-pin refused as the context PIN: one prompt, on a real terminal device."""
    import threading

    import rasign.secrets
    from rasign.backends.pkcs11 import Pkcs11Backend
    from rasign.signer import verify_signature

    master, slave = pty.openpty()
    monkeypatch.setattr(rasign.secrets, "TTY_PATH", os.ttyname(slave))
    pin_file = tmp_path / "pin"
    pin_file.write_text("1234")
    transcript: list[str] = []

    def answer() -> None:
        text = ""
        while "PIN" not in text or not text.rstrip().endswith(":"):
            ready, _, _ = select.select([master], [], [], 10)
            if not ready:
                return
            text += os.read(master, 4096).decode("utf-8", "replace")
        transcript.append(text)
        _wait_for_echo_off(master)
        os.write(master, b"1234\n")

    try:
        with Pkcs11Backend.open(
            options(
                certificate=f"pkcs11:token=rasign-a;object={label}",
                pkcs11_pin_file=str(pin_file),
                reuse_pin=True,
                interactive=True,
            )
        ) as signer:
            public = signer.certificate.public_key()
            assert verify_signature(public, signer.sign(b"one"), b"one")
            pin_file.write_text("0000")  # re-read for --reuse-pin at the next signature: now wrong
            helper = threading.Thread(target=answer)
            helper.start()
            assert verify_signature(public, signer.sign(b"two"), b"two")
            helper.join(15)
            assert len(transcript) == 1 and "context-specific PIN" in transcript[0]
            assert verify_signature(public, signer.sign(b"three"), b"three")  # typed PIN kept: no new prompt
            assert len(transcript) == 1
    finally:
        os.close(master)
        os.close(slave)
