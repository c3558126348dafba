"""What a user sees when a TPM key cannot be used: one line, the cause, the fix, the exit code.

Every case runs the real CLI (no terminal, like cron or the AWS CLI) against swtpm.
Wrong passwords are also checked at the TPM itself: its dictionary-attack counter must
go up by exactly one, proving rasign never tried the password a second time.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import termios
import time

import pytest

from rasign.errors import (
    AuthenticationError,
    BackendUnavailable,
    CertificateError,
    KeyLoadError,
    UsageError,
)
from tests.conftest import clean_env, emulator_args, run_rasign


def lockout_counter(tpm) -> int:
    from tpm2_pytss import TPM2_CAP, TPM2_PT

    with tpm.esapi() as esys:
        _, data = esys.get_capability(TPM2_CAP.TPM_PROPERTIES, TPM2_PT.LOCKOUT_COUNTER, 1)
        return int(data.data.tpmProperties.tpmProperty[0].value)


def assert_one_line_error(result, exit_code: int, *fragments: str) -> str:
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert result.returncode == exit_code, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("rasign: error:")]
    assert len(lines) == 1, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert result.stdout in ("", b"")
    return lines[0]


def sign_string(tpm, *args: str, env=None):
    return run_rasign("sign-string", "--format", "text", "--tpm-tcti", tpm.tcti, *args, env=env)


def test_wrong_password_is_tried_exactly_once(tpm, openssl_ec_password):
    before = lockout_counter(tpm)
    result = sign_string(tpm, "--private-key", openssl_ec_password.key, "--tpm-key-password", "not-the-password")
    assert_one_line_error(result, AuthenticationError.exit_code, "incorrect TPM key password", "does not retry")
    assert lockout_counter(tpm) == before + 1
    assert "not-the-password" not in result.stderr


def test_long_running_signer_never_presents_a_refused_password_again(tpm, openssl_ec_password):
    from rasign.options import SignerOptions
    from rasign.registry import open_signer

    before = lockout_counter(tpm)
    options = SignerOptions(
        private_key=openssl_ec_password.key, tpm_tcti=tpm.tcti, tpm_key_password="wrong", interactive=False
    )
    with open_signer(options) as signer:
        for _ in range(3):
            with pytest.raises(AuthenticationError, match="incorrect TPM key password"):
                signer.sign(b"refresh")
    assert lockout_counter(tpm) == before + 1


def test_password_from_environment(tpm, openssl_ec_password):
    result = sign_string(tpm, "--private-key", openssl_ec_password.key, env={"RASIGN_TPM_KEY_PASSWORD": "s3cret"})
    assert result.returncode == 0, result.stderr


def test_no_password_and_no_terminal(tpm, openssl_ec_password):
    before = lockout_counter(tpm)
    result = sign_string(tpm, "--private-key", openssl_ec_password.key)
    assert_one_line_error(result, AuthenticationError.exit_code, "no terminal", "--tpm-key-password")
    assert lockout_counter(tpm) == before


def test_password_prompt_on_the_terminal(tpm, openssl_ec_password):
    """With a controlling terminal the password is asked on /dev/tty, not stdin/stdout."""
    master, slave = os.openpty()

    def become_terminal_owner() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rasign",
            "sign-string",
            "--format",
            "text",
            "--tpm-tcti",
            tpm.tcti,
            "--private-key",
            openssl_ec_password.key,
        ],
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=become_terminal_owner,
        pass_fds=(slave,),  # noqa: PLW1509 - only setsid + ioctl, no locks taken
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"TPM key password" not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(master, 1024)
            except OSError:
                break
        assert b"Please enter your TPM key password:" in seen
        # The prompt switches echo off with TCSAFLUSH right after writing itself, which
        # discards input typed before that; a person is never that fast, a test is.
        time.sleep(0.5)
        os.write(master, b"s3cret\n")
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert process.returncode == 0, stderr.decode()
    assert len(bytes.fromhex(stdout.decode().strip())) > 60
    assert b"s3cret" not in stdout + stderr


def test_password_given_for_a_key_the_file_says_has_none(tpm, openssl_ec):
    """The explicit flag wins over emptyAuth (tpm2_encodeobject 5.4 writes it inverted),
    with a warning; the TPM then judges the password, once."""
    before = lockout_counter(tpm)
    result = sign_string(tpm, "--private-key", openssl_ec.key, "--tpm-key-password", "x")
    line = assert_one_line_error(result, AuthenticationError.exit_code, "incorrect TPM key password")
    assert "emptyAuth" in result.stderr and "x" not in line.split("(")[0].split()
    assert lockout_counter(tpm) == before + 1


@pytest.mark.parametrize("password", ["kpw", None])
def test_tpm2_encodeobject_keys_with_inverted_empty_auth(tpm, tmp_path, password):
    from rasign.backends.tpm.keyfile import read_key_file
    from tests.tpm import keys

    key = keys.tools_key_file(tpm, tmp_path, "encoded", password=password)
    assert read_key_file(str(key)).empty_auth is bool(password)  # the tool's inversion, observed
    args = ["--tpm-key-password", password] if password else ["--no-tpm-key-password"]
    result = sign_string(tpm, "--private-key", str(key), *args)
    assert result.returncode == 0, result.stderr
    assert "emptyAuth" in result.stderr


def test_key_created_on_another_tpm(tpm, foreign_key):
    result = sign_string(tpm, "--private-key", foreign_key.key)
    assert_one_line_error(result, KeyLoadError.exit_code, "integrity check failed", "another TPM")


def test_decrypt_only_key(tpm, decrypt_only_key):
    result = sign_string(tpm, "--private-key", str(decrypt_only_key))
    assert_one_line_error(result, KeyLoadError.exit_code, "lacks the sign attribute")


def test_missing_tcti_library(openssl_ec):
    result = run_rasign("sign-string", "--private-key", openssl_ec.key, "--tpm-tcti", "rasign-missing:conf")
    assert_one_line_error(result, BackendUnavailable.exit_code, "libtss2-tcti-rasign-missing.so.0", "not installed")


def test_no_tpm_device(openssl_ec):
    result = run_rasign("sign-string", "--private-key", openssl_ec.key, "--tpm-tcti", "device:/nonexistent/tpmrm0")
    assert_one_line_error(result, BackendUnavailable.exit_code, "no TPM device at /nonexistent/tpmrm0")


def test_tpm_not_listening(openssl_ec):
    from tests.tpm.swtpm import free_port_pair

    result = run_rasign("sign-string", "--private-key", openssl_ec.key, "--tpm-tcti", f"swtpm:port={free_port_pair()}")
    assert_one_line_error(result, BackendUnavailable.exit_code, "cannot connect to the TPM", "simulator running")


@pytest.mark.network
def test_credential_process_without_certificate(tpm, emulator, openssl_ec):
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--private-key",
        openssl_ec.key,
        "--tpm-tcti",
        tpm.tcti,
        *emulator_args(emulator),
    )
    assert_one_line_error(result, CertificateError.exit_code, "certificate")


def test_certificate_of_another_key(tpm, openssl_ec, handle_ec):
    result = sign_string(tpm, "--private-key", openssl_ec.key, "--certificate", str(handle_ec.cert))
    assert_one_line_error(result, KeyLoadError.exit_code, "does not match the certificate")


def test_wrong_parent_password(tpm, parent_password_key):
    result = sign_string(tpm, "--private-key", parent_password_key.key, "--tpm-parent-password", "wrong")
    assert_one_line_error(result, AuthenticationError.exit_code, "incorrect TPM parent password")


def test_missing_parent_password(tpm, parent_password_key):
    result = sign_string(tpm, "--private-key", parent_password_key.key)
    assert_one_line_error(result, AuthenticationError.exit_code, "parent password")


def test_pcr_policy_fails_cleanly_after_the_pcr_changes(tpm, pcr_key):
    from tpm2_pytss import ESYS_TR

    with tpm.esapi() as esys:
        esys.pcr_event(ESYS_TR.PCR16, b"something measured after the key was made")
    try:
        result = sign_string(tpm, "--private-key", pcr_key.key)
        assert_one_line_error(result, AuthenticationError.exit_code, "policy", "PCR values differ")
    finally:
        with tpm.esapi() as esys:
            esys.pcr_reset(ESYS_TR.PCR16)
    assert sign_string(tpm, "--private-key", pcr_key.key).returncode == 0


def test_pcr_handle_without_pcr_selection(tpm, handle_pcr):
    result = sign_string(tpm, "--private-key", handle_pcr.key)
    assert_one_line_error(result, KeyLoadError.exit_code, "only be used through a policy", "--tpm-pcrs")


def test_pcr_handle_with_the_wrong_selection(tpm, handle_pcr):
    result = sign_string(tpm, "--private-key", handle_pcr.key, "--tpm-pcrs", "sha256:22")
    assert_one_line_error(result, KeyLoadError.exit_code, "policy is not PolicyPCR")


def test_invalid_pcr_selection(tpm, handle_pcr):
    result = sign_string(tpm, "--private-key", handle_pcr.key, "--tpm-pcrs", "sha256:99")
    assert_one_line_error(result, UsageError.exit_code, "--tpm-pcrs")


def test_wrong_handle_password_is_tried_once(tpm, handle_rsa):
    before = lockout_counter(tpm)
    result = sign_string(tpm, "--private-key", handle_rsa.key, "--tpm-key-password", "nope")
    assert_one_line_error(result, AuthenticationError.exit_code, "incorrect TPM key password")
    assert lockout_counter(tpm) == before + 1


def test_absent_persistent_handle(tpm):
    result = sign_string(tpm, "--private-key", "handle:0x81000999", "--no-tpm-key-password")
    assert_one_line_error(result, KeyLoadError.exit_code, "not present in the TPM")


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("handle:zz", "invalid hex TPM handle"),
        ("handle:0x81:1", "invalid TPM handle format"),
        ("handle:0x80000001", "not a persistent key handle"),
    ],
)
def test_bad_handle_syntax(spec, fragment):
    result = run_rasign("sign-string", "--private-key", spec, "--tpm-tcti", "swtpm:port=1")
    assert_one_line_error(result, UsageError.exit_code, fragment)


def test_unsupported_policy_step_is_named(tpm, pcr_key, tmp_path):
    from rasign.backends.tpm.keyfile import PolicyCommand, read_key_file

    key = read_key_file(pcr_key.key)
    key.policy = [*key.policy, PolicyCommand(0x160, b"\x00")]
    path = tmp_path / "signed-policy.pem"
    path.write_bytes(key.to_pem())
    result = sign_string(tpm, "--private-key", str(path))
    assert_one_line_error(result, KeyLoadError.exit_code, "TPM2_PolicySigned", "does not support")


def test_curve_the_tpm_does_not_know(tpm, openssl_ec, tmp_path):
    """A key whose public area names an unknown curve: the TPM refuses it, rasign says why."""
    from rasign.backends.tpm.keyfile import read_key_file

    key = read_key_file(openssl_ec.key)
    public = bytearray(key.public)
    # TPM2B size(2) type(2) nameAlg(2) attributes(4) authPolicy(2+0) symmetric(2) scheme(2) curveID(2)
    assert public[10:12] == b"\x00\x00" and public[16:18] == b"\x00\x03"
    public[16:18] = b"\x00\x77"
    key.public = bytes(public)
    path = tmp_path / "odd-curve.pem"
    path.write_bytes(key.to_pem())
    result = sign_string(tpm, "--private-key", str(path))
    assert_one_line_error(result, BackendUnavailable.exit_code, "does not support the algorithm")


def test_password_for_a_pcr_only_handle_is_not_needed(tpm, handle_pcr):
    result = sign_string(
        tpm, "--private-key", handle_pcr.key, "--tpm-pcrs", "sha256:23", "--tpm-key-password", "unused"
    )
    assert result.returncode == 0, result.stderr
    assert "emptyAuth" not in result.stderr
