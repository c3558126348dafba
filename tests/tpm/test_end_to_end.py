"""Every kind of TPM key, through the real CLI, against swtpm and the local emulator.

credential-process must mint credentials (the emulator verifies the SigV4-X509
signature with the certificate), and sign-string's raw signature must verify with
``openssl dgst -verify`` and the public key as the key's own tool exported it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import emulator_args, run_rasign
from tests.support.flags import emulator_options
from tests.support.openssl import assert_openssl_verifies

IDENTITIES = [
    "openssl_rsa",
    "openssl_ec",
    "openssl_ec_password",
    "handle_rsa",
    "handle_ec",
    "handle_pcr",
    "pcr_key",
    "pcr_auth_key",
    "parent_password_key",
    "importable_key",
]


def key_args(identity, tcti: str) -> list[str]:
    args = ["--private-key", identity.key, "--tpm-tcti", tcti, *identity.extra_args]
    if identity.password:
        args += ["--tpm-key-password", identity.password]
    return args


@pytest.mark.network
@pytest.mark.parametrize("name", IDENTITIES)
def test_credential_process_end_to_end(request, tpm, emulator, name):
    identity = request.getfixturevalue(name)
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--certificate",
        str(identity.cert),
        *key_args(identity, tpm.tcti),
        *emulator_args(emulator),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["Version"] == 1
    assert document["AccessKeyId"] and document["SecretAccessKey"] and document["SessionToken"]
    assert "Traceback" not in result.stderr
    if identity.password:
        assert identity.password not in result.stderr + result.stdout


@pytest.mark.parametrize("name", IDENTITIES)
@pytest.mark.parametrize("digest", ["SHA256", "SHA384"])
def test_sign_string_verifies_with_openssl(request, tpm, tmp_path, name, digest):
    from cryptography.hazmat.primitives import serialization

    from rasign.commands.sign_string import test_message

    identity = request.getfixturevalue(name)
    result = run_rasign("sign-string", "--format", "bin", "--digest", digest, *key_args(identity, tpm.tcti), text=False)
    assert result.returncode == 0, result.stderr.decode()
    public_key = serialization.load_pem_public_key(identity.public_pem.read_bytes())
    assert_openssl_verifies(identity.public_pem, result.stdout, test_message(public_key), tmp_path, digest)


def test_unix_socket_tcti_and_tpm_device_variable(tpm_unix, openssl_tpm2, tmp_path):
    """The unix-socket transport, chosen through --tpm-tcti and through the Go helper's TPM_DEVICE."""
    from tests.tpm import keys

    key = keys.openssl_key(tpm_unix, tmp_path / "unix-ec.pem", "EC")
    by_flag = run_rasign("sign-string", "--format", "text", "--private-key", str(key), "--tpm-tcti", tpm_unix.tcti)
    assert by_flag.returncode == 0, by_flag.stderr
    by_env = run_rasign(
        "sign-string", "--format", "text", "--private-key", str(key), env={"TPM_DEVICE": str(tpm_unix.socket_path)}
    )
    assert by_env.returncode == 0, by_env.stderr
    by_tools_env = run_rasign(
        "sign-string", "--format", "text", "--private-key", str(key), env={"TPM2TOOLS_TCTI": tpm_unix.tcti}
    )
    assert by_tools_env.returncode == 0, by_tools_env.stderr


@pytest.mark.softhsm
@pytest.mark.network
def test_certificate_on_a_pkcs11_token_with_the_key_in_the_tpm(tpm, emulator, openssl_ec, tmp_path):
    """--certificate pkcs11:... names the certificate; the key stays in the TPM (--backend tpm)."""
    import os
    import shutil

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    module = "/usr/lib/softhsm/libsofthsm2.so"
    if not (shutil.which("softhsm2-util") and shutil.which("pkcs11-tool") and os.path.exists(module)):
        if os.environ.get("CI"):
            pytest.fail("SoftHSM2 / pkcs11-tool missing")
        pytest.skip("SoftHSM2 / pkcs11-tool missing")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    tool_env = {**os.environ, **env}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "rasign-tpm", "--so-pin", "12345678", "--pin", "1234"],
        env=tool_env,
        check=True,
        capture_output=True,
    )
    cert_der = tmp_path / "cert.der"
    cert_der.write_bytes(
        x509.load_pem_x509_certificate(openssl_ec.cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    subprocess.run(
        [
            "pkcs11-tool",
            "--module",
            module,
            "--token-label",
            "rasign-tpm",
            "--login",
            "--pin",
            "1234",
            "--write-object",
            str(cert_der),
            "--type",
            "cert",
            "--label",
            "tpm-cert",
            "--id",
            "01",
        ],
        env=tool_env,
        check=True,
        capture_output=True,
    )
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--backend",
        "tpm",
        "--pkcs11-lib",
        module,
        "--certificate",
        "pkcs11:token=rasign-tpm;object=tpm-cert;type=cert",
        "--private-key",
        openssl_ec.key,
        "--tpm-tcti",
        tpm.tcti,
        *emulator_args(emulator),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccessKeyId"]


@pytest.mark.network
def test_combined_certificate_and_key_file(tpm, emulator, openssl_ec, tmp_path):
    """The Go helper's "combo" file: certificate and TSS2 key in one PEM, given as --certificate."""
    combo = tmp_path / "combo.pem"
    combo.write_bytes(openssl_ec.cert.read_bytes() + Path(openssl_ec.key).read_bytes())
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--certificate",
        str(combo),
        "--tpm-tcti",
        tpm.tcti,
        *emulator_args(emulator),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccessKeyId"]


def test_tpm_device_socket_without_control_channel(swtpm_factory, tmp_path):
    """The Go helper's test set-up: swtpm --server type=unixio only, passed as TPM_DEVICE."""
    from tpm2_pytss.tsskey import TSSPrivKey

    tpm = swtpm_factory("unixraw")
    with tpm.esapi() as esys:
        key = TSSPrivKey.create_ecc(esys)
    path = tmp_path / "k.pem"
    path.write_bytes(key.to_pem())
    result = run_rasign(
        "sign-string", "--format", "text", "--private-key", str(path), env={"TPM_DEVICE": str(tpm.socket_path)}
    )
    assert result.returncode == 0, result.stderr
    assert tpm.transient_handles() == [] and tpm.loaded_sessions() == []


@pytest.mark.network
def test_long_running_minting_keeps_the_key_and_survives_a_tpm_restart(swtpm_factory, emulator, pki, tmp_path):
    """What serve/update do: one signer for many CreateSession calls, across a TPM reset."""
    from cryptography.hazmat.primitives import serialization
    from tpm2_pytss.tsskey import TSSPrivKey

    from rasign.options import SessionOptions, SignerOptions
    from rasign.refresh import SessionMinter

    tpm = swtpm_factory("tcp")
    with tpm.esapi() as esys:
        key = TSSPrivKey.create_ecc(esys)
    key_path, cert_path = tmp_path / "k.pem", tmp_path / "k.cert.pem"
    key_path.write_bytes(key.to_pem())
    pki.issue(serialization.load_der_public_key(key.public.to_der()), cert_path)
    signer_options = SignerOptions(
        certificate=str(cert_path), private_key=str(key_path), tpm_tcti=tpm.tcti, interactive=False
    )
    session_options = SessionOptions(
        **emulator_options(emulator),
        region=emulator.region,
    )
    with SessionMinter(signer_options, session_options) as minter:
        minter.open()
        first = minter.mint()
        second = minter.mint()
        assert minter._signer.loads == 1  # the key stayed loaded between refreshes
        tpm.restart()
        third = minter.mint()
        assert minter._signer.loads == 2
    assert len({first.access_key_id, second.access_key_id, third.access_key_id}) == 3
    assert tpm.transient_handles() == [] and tpm.loaded_sessions() == []


@pytest.mark.network
def test_debug_output_never_shows_the_passwords(tpm, emulator, openssl_ec_password, parent_password_key):
    for identity, secret in ((openssl_ec_password, "s3cret"), (parent_password_key, "parentpw")):
        result = run_rasign(
            "credential-process",
            "--debug",
            "--no-cache",
            "--certificate",
            str(identity.cert),
            *key_args(identity, tpm.tcti),
            *emulator_args(emulator),
        )
        assert result.returncode == 0, result.stderr
        assert "tpm" in result.stderr.lower()  # the debug log did talk about the key
        assert secret not in result.stderr
