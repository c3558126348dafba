"""credential_process mistakes are named, fail locally, and never reach the emulator.

Real files from the test PKI, the real entry point (in-process), the verifying emulator as
the would-be server: its request counter proves nothing was sent.
"""

from __future__ import annotations

import configparser
import shlex

import pytest

from rasign.cli.main import main
from tests.conftest import emulator_args, run_rasign

pytestmark = pytest.mark.network


@pytest.fixture
def identity(pki, tmp_path):
    return pki.software_identity("ec", stem="mistake")


def credential_process(capsys, emulator, *argv: str) -> tuple[int, str]:
    before = emulator.create_session_count
    code = main(["credential-process", *argv, *emulator_args(emulator), "--no-cache"], prog="rasign")
    out, err = capsys.readouterr()
    assert emulator.create_session_count == before, "a local mistake reached the network"
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rasign: error: "), err
    assert "Traceback" not in err
    return code, lines[0]


def config_argv(value: str) -> list[str]:
    """The argv the AWS CLI builds from a credential_process value (configparser + shlex)."""
    parser = configparser.RawConfigParser()
    parser.read_string(f"[profile ra]\ncredential_process = {value}\n")
    return shlex.split(parser.get("profile ra", "credential_process"))[1:]


def test_backslash_line_continuation(capsys, emulator, identity):
    cert, key = identity
    argv = config_argv(f"rasign credential-process --certificate {cert} \\\n    --private-key {key}")
    assert argv[3] == "\n--private-key"  # what reaches rasign, exactly as issue 10 reports it
    code, line = credential_process(capsys, emulator, *argv[1:])
    assert code == 2
    assert "backslash line continuation" in line and "'\\n--private-key'" in line and "one line" in line


def test_continuation_without_backslash_works(emulator, identity):
    cert, key = identity
    argv = config_argv(f"rasign credential-process --certificate {cert}\n    --private-key {key}")
    done = run_rasign(*argv, *emulator_args(emulator), "--no-cache")
    assert done.returncode == 0, done.stderr


def test_lone_backslash_from_windows_splitting(capsys, emulator, identity):
    cert, key = identity
    code, line = credential_process(capsys, emulator, "--certificate", str(cert), "\\", "--private-key", str(key))
    assert code == 2 and "backslash line continuation" in line


def test_tilde_is_not_expanded(capsys, emulator, identity, monkeypatch, tmp_path):
    cert, key = identity
    monkeypatch.setenv("HOME", str(cert.parent))
    code, line = credential_process(
        capsys, emulator, "--certificate", f"~/{cert.name}", "--private-key", f"~/{key.name}"
    )
    assert code == 4
    assert "'~' is not expanded when the AWS CLI runs credential_process" in line
    assert f"use the absolute path {cert}" in line


def test_relative_path_from_another_directory(capsys, emulator, identity, monkeypatch, tmp_path):
    cert, key = identity
    monkeypatch.chdir(tmp_path)
    code, line = credential_process(capsys, emulator, "--certificate", f"certs/{cert.name}", "--private-key", str(key))
    assert code == 4
    assert f"does not exist in the current directory {tmp_path}" in line
    assert "runs credential_process from the directory it was started in" in line and "absolute path" in line


def test_relative_path_that_exists_still_works(capsys, emulator, identity, monkeypatch):
    cert, key = identity
    monkeypatch.chdir(cert.parent)
    code = main(
        [
            "credential-process",
            "--certificate",
            cert.name,
            "--private-key",
            key.name,
            *emulator_args(emulator),
            "--no-cache",
        ],
        prog="rasign",
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"AccessKeyId"' in out


def test_quotes_inside_the_path(capsys, emulator, identity):
    cert, key = identity
    code, line = credential_process(capsys, emulator, "--certificate", f'"{cert}"', "--private-key", str(key))
    assert code == 2 and "quotes around it" in line


def test_swapped_certificate_and_key(capsys, emulator, identity):
    cert, key = identity
    code, line = credential_process(capsys, emulator, "--certificate", str(key), "--private-key", str(cert))
    assert code == 4
    assert "--certificate and --private-key are swapped" in line and "swap the two values" in line


def test_key_given_as_certificate(capsys, emulator, identity, tmp_path):
    cert, key = identity
    code, line = credential_process(capsys, emulator, "--certificate", str(key), "--private-key", str(key))
    assert code == 4 and f"--certificate {key} holds a private key, not a certificate" in line


def test_certificate_given_as_key(capsys, emulator, identity):
    cert, key = identity
    code, line = credential_process(capsys, emulator, "--certificate", str(cert), "--private-key", str(cert))
    assert code == 4 and f"--private-key {cert} holds a certificate, not a private key" in line


def test_der_certificate_given_as_key(capsys, emulator, identity, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert, key = identity
    der = tmp_path / "cert.der"
    der.write_bytes(x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER))
    code, line = credential_process(capsys, emulator, "--certificate", str(cert), "--private-key", str(der))
    assert code == 4 and "holds a certificate, not a private key" in line


def test_ca_certificate_as_leaf(capsys, emulator, identity, pki):
    _, key = identity
    code, line = credential_process(capsys, emulator, "--certificate", str(pki.root_path), "--private-key", str(key))
    assert code == 5
    assert "holds only CA certificates, not the end-entity (leaf) certificate" in line and "trust anchor" in line


def test_unrelated_key_mismatch_is_not_misnamed(capsys, emulator, identity, pki):
    cert, _ = identity
    _, other_key = pki.software_identity("ec", stem="mistake-other")
    code, line = credential_process(capsys, emulator, "--certificate", str(cert), "--private-key", str(other_key))
    assert code == 4 and "does not match" in line and "swapped" not in line


def test_sniff_ignores_uris_and_missing_files(tmp_path):
    from rasign.cli.mistakes import sniff

    assert sniff("pkcs11:token=a") is None and sniff(str(tmp_path / "none")) is None
    garbage = tmp_path / "g"
    garbage.write_bytes(b"\x00\x01garbage")
    assert sniff(str(garbage)) is None
