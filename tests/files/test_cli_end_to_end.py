"""File keys through the real CLI process against the verifying local emulator.

Keys and PKCS#12 files are made by openssl; certificates come from the shared ``pki``
fixture because the emulator trusts its root.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from rasign.errors import EXIT_CODES
from tests.conftest import emulator_args, run_rasign
from tests.files.helpers import openssl, openssl_verify

pytestmark = [pytest.mark.network, pytest.mark.openssl]


def _identity(pki, directory, algorithm_args, stem, *, intermediate=None):
    key = directory / f"{stem}.pem"
    openssl("genpkey", *algorithm_args, "-out", key)
    return _certified(pki, key, directory, stem, intermediate=intermediate)


def _certified(pki, key, directory, stem, *, intermediate=None):
    """A certificate from the emulator-trusted ``pki`` for an existing (openssl-made) key."""
    public = serialization.load_pem_private_key(key.read_bytes(), None).public_key()
    cert = directory / f"{stem}-cert.pem"
    pki.issue(public, cert, cn=f"rasign {stem}", issuer=intermediate)
    return key, cert


def _assert_credentials(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["Version"] == 1 and document["AccessKeyId"]
    assert document["SecretAccessKey"] not in result.stderr


def _assert_one_line_error(result: subprocess.CompletedProcess, error: str, *needles: str) -> None:
    assert result.returncode == EXIT_CODES[error], (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rasign: error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_encrypted_pkcs8_by_flag_and_by_environment(pki, emulator, tmp_path):
    key, cert = _identity(pki, tmp_path, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], "enc")
    encrypted = tmp_path / "enc-aes.pem"
    openssl(
        "pkcs8",
        "-topk8",
        "-in",
        key,
        "-v2",
        "aes-256-cbc",
        "-v2prf",
        "hmacWithSHA512",
        "-passout",
        "pass:s3cret!",
        "-out",
        encrypted,
    )
    base = ["credential-process", "--certificate", str(cert), "--private-key", str(encrypted), *emulator_args(emulator)]
    _assert_credentials(run_rasign(*base, "--pkcs8-password", "s3cret!"))
    _assert_credentials(run_rasign(*base, env={"RASIGN_PKCS8_PASSWORD": "s3cret!"}))

    wrong = run_rasign(*base, "--pkcs8-password", "nope")
    _assert_one_line_error(wrong, "AuthenticationError", "incorrect PKCS#8 private key password")
    assert "nope" not in wrong.stderr

    # run_rasign has no controlling terminal: the prompt must fail at once, not hang.
    missing = run_rasign(*base)
    _assert_one_line_error(missing, "AuthenticationError", "no terminal", "--pkcs8-password")


def test_pkcs12_with_chain_and_password(pki, emulator, base_keys, tmp_path):
    intermediate = pki.intermediate("rasign p12 intermediate")
    key, cert = _certified(pki, base_keys["rsa2048"].key, tmp_path, "p12", intermediate=intermediate)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(intermediate.pem)
    for variant, extra in (("aes", []), ("legacy", ["-legacy"])):
        p12 = tmp_path / f"id-{variant}.p12"
        openssl(
            "pkcs12",
            "-export",
            *extra,
            "-inkey",
            key,
            "-in",
            cert,
            "-certfile",
            chain,
            "-passout",
            "pass:pfx-pw",
            "-out",
            p12,
        )
        result = run_rasign(
            "credential-process", "--certificate", str(p12), "--pkcs8-password", "pfx-pw", *emulator_args(emulator)
        )
        _assert_credentials(result)
    refused = run_rasign(
        "credential-process",
        "--certificate",
        str(p12),
        "--pkcs8-password",
        "pfx-pw",
        "--intermediates",
        str(chain),
        *emulator_args(emulator),
    )
    _assert_one_line_error(refused, "UsageError", "can't specify certificate chain when using PKCS#12 files")


def test_legacy_encrypted_pkcs1_key(pki, emulator, base_keys, tmp_path):
    key, cert = _certified(pki, base_keys["rsa2048"].key, tmp_path, "legacy")
    legacy = tmp_path / "legacy-enc.pem"
    openssl("rsa", "-in", key, "-aes256", "-traditional", "-passout", "pass:old-style", "-out", legacy)
    result = run_rasign(
        "credential-process",
        "--certificate",
        str(cert),
        "--private-key",
        str(legacy),
        "--pkcs8-password",
        "old-style",
        *emulator_args(emulator),
    )
    _assert_credentials(result)


def test_mismatched_key_is_refused_before_the_network(pki, emulator, tmp_path):
    _, cert = _identity(pki, tmp_path, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "a")
    other, _ = _identity(pki, tmp_path, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "b")
    result = run_rasign(
        "credential-process", "--certificate", str(cert), "--private-key", str(other), *emulator_args(emulator)
    )
    _assert_one_line_error(result, "KeyLoadError", "does not match the certificate")


def test_garbage_key_file(pki, emulator, tmp_path):
    _, cert = _identity(pki, tmp_path, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "g")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n")
    result = run_rasign(
        "credential-process", "--certificate", str(cert), "--private-key", str(garbage), *emulator_args(emulator)
    )
    _assert_one_line_error(result, "KeyLoadError", "unable to parse private key in")


@pytest.mark.parametrize("digest", ["SHA256", "SHA512"])
def test_sign_string_verifies_with_openssl(base_keys, tmp_path, digest):
    """The Go helper's TODO: check sign-string output with ``openssl dgst -verify``."""
    from rasign.commands.sign_string import test_message

    key = base_keys["rsa2048"].key  # openssl-made RSA-2048, read only: no keygen per case
    encrypted = tmp_path / "k-scrypt.pem"
    openssl("pkcs8", "-topk8", "-scrypt", "-in", key, "-passout", "pass:pw", "-out", encrypted)
    cert = tmp_path / "k-cert.pem"
    openssl("req", "-x509", "-new", "-key", key, "-subj", "/CN=sign-string", "-days", "2", "-out", cert)
    result = run_rasign(
        "sign-string",
        "--certificate",
        str(cert),
        "--private-key",
        str(encrypted),
        "--pkcs8-password",
        "pw",
        "--format",
        "bin",
        "--digest",
        digest,
        text=False,
    )
    assert result.returncode == 0, result.stderr
    public = serialization.load_pem_private_key(key.read_bytes(), None).public_key()
    openssl_verify(cert, result.stdout, test_message(public), tmp_path, digest.lower())


@pytest.mark.parametrize("variant", ["ML-DSA-44", "ML-DSA-87"])
def test_mldsa_both_encoding_encrypted_end_to_end(pki, emulator, tmp_path, variant):
    """OpenSSL 3.5's default ML-DSA key shape, PBES2-encrypted, signs a CreateSession the emulator accepts."""
    backend = pytest.importorskip("cryptography.hazmat.backends.openssl.backend").backend
    if not backend.mldsa_supported():
        pytest.skip("this cryptography build has no ML-DSA (needs OpenSSL 3.5+)")
    from tests.files.mldsa_files import VARIANTS, encodings, pbes2_encrypt, pem

    key = VARIANTS[variant][0].generate()
    key_path, cert = tmp_path / "mldsa-key.pem", tmp_path / "mldsa-cert.pem"
    key_path.write_bytes(
        pem("ENCRYPTED PRIVATE KEY", pbes2_encrypt(encodings(variant, key)["both"], b"pq-pw", "scrypt"))
    )
    pki.issue(key.public_key(), cert, cn=f"rasign {variant}")
    result = run_rasign(
        "credential-process",
        "--certificate",
        str(cert),
        "--private-key",
        str(key_path),
        "--pkcs8-password",
        "pq-pw",
        *emulator_args(emulator),
    )
    _assert_credentials(result)
