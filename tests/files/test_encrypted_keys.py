"""Encrypted keys made by openssl: every PBES2 variant, scrypt, legacy PEM; password handling."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from rasign.errors import EXIT_CODES, AuthenticationError
from tests.files.conftest import PASSWORD
from tests.files.helpers import assert_signs_for_certificate, open_file_signer

pytestmark = pytest.mark.openssl

CIPHERS = ("aes-128-cbc", "aes-192-cbc", "aes-256-cbc")
PRFS = ("hmacWithSHA1", "hmacWithSHA256", "hmacWithSHA384", "hmacWithSHA512")


def pbes2(base, cipher: str, prf: str, outform: str = "PEM"):
    suffix = "der" if outform == "DER" else "pem"
    return base.derive(
        f"{base.name}-{cipher}-{prf}.{suffix}",
        "pkcs8",
        "-topk8",
        "-v2",
        cipher,
        "-v2prf",
        prf,
        "-passout",
        f"pass:{PASSWORD}",
        "-outform",
        outform,
    )


@pytest.mark.parametrize("prf", PRFS)
@pytest.mark.parametrize("cipher", CIPHERS)
def test_pbes2_every_cipher_and_prf(base_keys, cipher, prf):
    base = base_keys["p256"]
    key = pbes2(base, cipher, prf)
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with open_file_signer(certificate=str(base.cert), private_key=str(key), pkcs8_password=PASSWORD) as signer:
        assert "encrypted PKCS#8" in signer.describe()
        assert_signs_for_certificate(signer, ("SHA256",))


@pytest.mark.parametrize("name", ["rsa2048", "rsa4096", "p384", "p521"])
def test_pbes2_and_scrypt_for_each_key_type(base_keys, name):
    base = base_keys[name]
    scrypt = base.derive(f"{name}-scrypt.pem", "pkcs8", "-topk8", "-scrypt", "-passout", f"pass:{PASSWORD}")
    for key in (
        pbes2(base, "aes-256-cbc", "hmacWithSHA512"),
        scrypt,
        pbes2(base, "aes-128-cbc", "hmacWithSHA256", "DER"),
    ):
        with open_file_signer(certificate=str(base.cert), private_key=str(key), pkcs8_password=PASSWORD) as signer:
            assert_signs_for_certificate(signer, ("SHA256",))


def test_scrypt_p256(base_keys):
    base = base_keys["p256"]
    key = base.derive("p256-scrypt.pem", "pkcs8", "-topk8", "-scrypt", "-passout", f"pass:{PASSWORD}")
    with open_file_signer(certificate=str(base.cert), private_key=str(key), pkcs8_password=PASSWORD) as signer:
        assert_signs_for_certificate(signer)


@pytest.mark.parametrize(
    "name,args",
    [
        ("rsa2048", ("rsa", "-aes256", "-traditional")),
        ("rsa4096", ("rsa", "-des3", "-traditional")),
        ("p256", ("ec", "-aes128")),
        ("p384", ("ec", "-aes256")),
    ],
)
def test_legacy_encrypted_pem(base_keys, name, args):
    base = base_keys[name]
    key = base.derive(f"{name}-legacy-{args[1][1:]}.pem", *args, "-passout", f"pass:{PASSWORD}")
    assert b"Proc-Type: 4,ENCRYPTED" in key.read_bytes()
    with open_file_signer(certificate=str(base.cert), private_key=str(key), pkcs8_password=PASSWORD) as signer:
        assert "legacy encrypted" in signer.describe()
        assert_signs_for_certificate(signer, ("SHA256",))


def test_pbes1_3des_pkcs8_still_loads(base_keys):
    """Old PKCS#5 v1.5 / PKCS#12 PBE schemes: cryptography decrypts them, so rasign does."""
    base = base_keys["p256"]
    key = base.derive("p256-pbes1.pem", "pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-passout", f"pass:{PASSWORD}")
    with open_file_signer(certificate=str(base.cert), private_key=str(key), pkcs8_password=PASSWORD) as signer:
        assert_signs_for_certificate(signer, ("SHA256",))


@pytest.mark.parametrize("variant", ["pbes2", "scrypt", "der", "legacy", "pbes1"])
def test_wrong_password_is_an_authentication_error(base_keys, variant):
    base = base_keys["rsa2048"]
    key = {
        "pbes2": lambda: pbes2(base, "aes-256-cbc", "hmacWithSHA256"),
        "scrypt": lambda: base.derive(
            "rsa2048-scrypt.pem", "pkcs8", "-topk8", "-scrypt", "-passout", f"pass:{PASSWORD}"
        ),
        "der": lambda: pbes2(base, "aes-128-cbc", "hmacWithSHA256", "DER"),
        "legacy": lambda: base.derive(
            "rsa2048-legacy-aes256.pem", "rsa", "-aes256", "-traditional", "-passout", f"pass:{PASSWORD}"
        ),
        "pbes1": lambda: base.derive(
            "rsa2048-pbes1.pem", "pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES", "-passout", f"pass:{PASSWORD}"
        ),
    }[variant]()
    with pytest.raises(AuthenticationError) as caught:
        open_file_signer(certificate=str(base.cert), private_key=str(key), pkcs8_password="not the password")
    assert str(caught.value).startswith("incorrect PKCS#8 private key password")
    assert "\n" not in caught.value.one_line()
    assert "not the password" not in caught.value.one_line()
    assert caught.value.exit_code == EXIT_CODES["AuthenticationError"]


def test_password_from_environment(base_keys, monkeypatch):
    base = base_keys["p384"]
    key = pbes2(base, "aes-192-cbc", "hmacWithSHA384")
    monkeypatch.setenv("RASIGN_PKCS8_PASSWORD", PASSWORD)
    with open_file_signer(certificate=str(base.cert), private_key=str(key)) as signer:
        assert_signs_for_certificate(signer, ("SHA256",))


def test_missing_password_without_prompting_is_clear(base_keys, monkeypatch):
    monkeypatch.delenv("RASIGN_PKCS8_PASSWORD", raising=False)
    base = base_keys["p256"]
    key = pbes2(base, "aes-256-cbc", "hmacWithSHA256")
    with pytest.raises(AuthenticationError, match="is encrypted and no password was given"):
        open_file_signer(certificate=str(base.cert), private_key=str(key), interactive=False)


def test_password_for_an_unencrypted_key_is_a_warning_not_an_error(base_keys, caplog):
    """Decision: a rotated, now-plaintext key must keep working under serve; warn instead."""
    base = base_keys["p256"]
    with (
        caplog.at_level("WARNING", logger="rasign"),
        open_file_signer(certificate=str(base.cert), private_key=str(base.key), pkcs8_password="secret-pw") as signer,
    ):
        assert_signs_for_certificate(signer, ("SHA256",))
    assert "is not encrypted" in caplog.text
    assert "secret-pw" not in caplog.text


NO_TTY_SCRIPT = textwrap.dedent(
    """
    import sys
    from rasign.backends.file import FileBackend
    from rasign.errors import RasignError
    from rasign.options import SignerOptions
    try:
        FileBackend.open(SignerOptions(certificate=sys.argv[1], private_key=sys.argv[2], interactive=True))
    except RasignError as err:
        print(type(err).__name__, err.exit_code, err.one_line())
        sys.exit(err.exit_code)
    print("opened")
    """
)


def test_missing_password_with_no_terminal_fails_at_once(base_keys):
    """Interactive, but no controlling tty (new session, stdin /dev/null): one clear error, no hang."""
    base = base_keys["p256"]
    key = pbes2(base, "aes-256-cbc", "hmacWithSHA256")
    env = {k: v for k, v in os.environ.items() if k != "RASIGN_PKCS8_PASSWORD"}
    result = subprocess.run(  # noqa: PLW1510 - the return code is the assertion
        [sys.executable, "-c", NO_TTY_SCRIPT, str(base.cert), str(key)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
        env=env,
    )
    assert result.returncode == EXIT_CODES["AuthenticationError"], result.stderr
    assert result.stdout.startswith("AuthenticationError")
    assert "no terminal" in result.stdout
    assert "--pkcs8-password" in result.stdout
    assert "Traceback" not in result.stderr


PTY_SCRIPT = textwrap.dedent(
    """
    import sys
    from rasign.backends.file import FileBackend
    from rasign.errors import RasignError
    from rasign.options import SignerOptions
    options = SignerOptions(certificate=sys.argv[1], private_key=sys.argv[2], interactive=True)
    try:
        for attempt in range(2):  # the second open is a serve-style refresh
            signer = FileBackend.open(options)
            signer.sign(b"x")
            print("opened", attempt, flush=True)
    except RasignError as err:
        print("ERROR", type(err).__name__, err.one_line(), flush=True)
        sys.exit(err.exit_code)
    """
)


def _run_on_a_terminal(args: list[str], typed: bytes) -> tuple[int, str]:
    """Run the script with a real pseudo-terminal as its controlling tty; type ``typed`` at each prompt."""
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if k != "RASIGN_PKCS8_PASSWORD"}
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is now its controlling terminal and /dev/tty
        os.execve(sys.executable, [sys.executable, "-c", PTY_SCRIPT, *args], env)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                raise AssertionError(f"child hung; output so far: {output!r}")
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if chunk.rstrip().endswith(b":"):
                _wait_for_echo_off(fd)
                os.write(fd, typed + b"\n")
    finally:
        status = _reap(pid)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def _wait_for_echo_off(fd: int) -> None:
    """Type only once the child has switched echo off: its TCSAFLUSH discards earlier input."""
    import termios
    import time

    deadline = time.monotonic() + 10
    while termios.tcgetattr(fd)[3] & termios.ECHO and time.monotonic() < deadline:
        time.sleep(0.01)


def _reap(pid: int) -> int:
    """Wait for our child; kill it (by its pid) if it is still waiting on the terminal."""
    import signal
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def test_prompt_on_a_real_terminal_once_then_remembered(base_keys):
    """One prompt on /dev/tty; the refresh re-open does not ask again; the password is not echoed."""
    base = base_keys["rsa2048"]
    secret = "Tty-Secret-42"
    key = base.derive("rsa2048-tty.pem", "pkcs8", "-topk8", "-v2", "aes-128-cbc", "-passout", f"pass:{secret}")
    code, output = _run_on_a_terminal([str(base.cert), str(key)], secret.encode())
    assert code == 0, output
    assert output.count("Enter the password for the private key") == 1
    assert "opened 0" in output and "opened 1" in output
    assert secret not in output


def test_wrong_typed_password_is_not_retried(base_keys):
    base = base_keys["p256"]
    key = pbes2(base, "aes-256-cbc", "hmacWithSHA256")
    code, output = _run_on_a_terminal([str(base.cert), str(key)], b"not-it")
    assert code == EXIT_CODES["AuthenticationError"], output
    assert output.count("Enter the password") == 1
    assert "ERROR AuthenticationError incorrect PKCS#8 private key password" in output
    assert "not-it" not in output
