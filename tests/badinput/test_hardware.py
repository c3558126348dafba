"""Bad inputs against real tokens: SoftHSM2 (PKCS#11) and swtpm (TPM 2.0).

These run in a process of their own (native libraries, and SoftHSM keeps the first
configuration it sees). A wrong PIN or password is tried once and never shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.badinput.cases import AUTH, CONFIG, KEYLOAD, UNAVAILABLE, USAGE, case
from tests.badinput.harness import Case, World, check

WRONG_PIN = "86420975"
WRONG_TPM_PASSWORD = "wrong-tpm-pw-531"

A_KEY = "pkcs11:token=rasign-a;object=ec-p256"


def p11(id: str, code: int, says: str, *args: str, **swap: str | None) -> Case:
    return case(id, code, says, "--pkcs11-lib", "{module}", *args, own_process=True, **swap)


PKCS11 = [
    p11("p11-wrong-pin-in-uri", AUTH, "", certificate=None, private_key=f"{A_KEY}?pin-value={WRONG_PIN}"),
    p11("p11-wrong-pin-env", AUTH, "", certificate=None, private_key=A_KEY),
    p11("p11-no-pin-no-terminal", AUTH, "", certificate=None, private_key=A_KEY),
    p11(
        "p11-pin-env-var-unset",
        CONFIG,
        "is not set",
        "--pkcs11-pin-env",
        "RASIGN_TEST_NO_SUCH_VAR",
        certificate=None,
        private_key=A_KEY,
    ),
    p11(
        "p11-token-missing",
        KEYLOAD,
        "",
        certificate=None,
        private_key="pkcs11:token=no-such-token;object=x?pin-value=1234",
    ),
    p11(
        "p11-object-missing",
        KEYLOAD,
        "",
        certificate=None,
        private_key="pkcs11:token=rasign-a;object=nope?pin-value=1234",
    ),
    p11("p11-ambiguous-key", KEYLOAD, "", certificate=None, private_key="pkcs11:object=ec-p256?pin-value=1234"),
    p11(
        "p11-cert-uri-with-key-file",
        USAGE,
        "cannot be combined",
        certificate="pkcs11:token=rasign-a;object=rsa-2048",
        private_key="{key}",
    ),
    p11("p11-wrong-pin-file", AUTH, "", "--pkcs11-pin-file", "{wrong_pin_file}", certificate=None, private_key=A_KEY),
    p11("p11-pin-uri-percent-ff", USAGE, "not valid UTF-8", certificate=None, private_key=f"{A_KEY}?pin-value=%FF%FE"),
    p11("p11-pin-file-directory", KEYLOAD, "", "--pkcs11-pin-file", "{dir}", certificate=None, private_key=A_KEY),
    p11(
        "p11-pin-file-missing",
        KEYLOAD,
        "cannot read the PIN file",
        "--pkcs11-pin-file",
        "{missing}",
        certificate=None,
        private_key=A_KEY,
    ),
]


@pytest.fixture
def hsm_world(world: World, hsm, tmp_path_factory) -> World:
    directory = tmp_path_factory.mktemp("badinput-pins")
    pin_file = Path(directory) / "wrong-pin"
    pin_file.write_text(WRONG_PIN + "\n")
    paths = dict(world.paths, module=hsm.module, wrong_pin_file=str(pin_file))
    return World(
        root=world.root,
        paths=paths,
        secrets=[*world.secrets, WRONG_PIN],
        emulator=world.emulator,
        watched=world.watched,
    )


@pytest.mark.softhsm
@pytest.mark.parametrize("bad", [c.param() for c in PKCS11])
def test_pkcs11_bad_input(bad, hsm_world, hsm, capfd, monkeypatch):
    env = dict(hsm.env)
    if bad.id == "p11-wrong-pin-env":
        env["RASIGN_PKCS11_PIN"] = WRONG_PIN
    check(bad, hsm_world, capfd, monkeypatch, extra_env=env)


def tpm_case(id: str, code: int, says: str, *args: str, **swap: str | None) -> Case:
    return case(id, code, says, "--tpm-tcti", "{tcti}", *args, command="sign-string", own_process=True, **swap)


TPM = [
    tpm_case(
        "tpm-wrong-password",
        AUTH,
        "",
        "--tpm-key-password",
        WRONG_TPM_PASSWORD,
        private_key="{tpm_key}",
        certificate="{tpm_cert}",
    ),
    tpm_case(  # argv bytes that are not UTF-8: a wrong password, not a crash
        "tpm-password-nonutf8",
        AUTH,
        "",
        "--tpm-key-password",
        "wr\udcffong",
        private_key="{tpm_key}",
        certificate="{tpm_cert}",
    ),
    tpm_case("tpm-no-password-no-terminal", AUTH, "", private_key="{tpm_key}", certificate="{tpm_cert}"),
    tpm_case(
        "tpm-key-with-other-certificate",
        KEYLOAD,
        "",
        "--tpm-key-password",
        "s3cret",
        private_key="{tpm_key}",
        certificate="{cert}",
    ),
    tpm_case(
        "tpm-handle-absent", KEYLOAD, "", "--no-tpm-key-password", private_key="handle:0x81000fff", certificate="{cert}"
    ),
    case(
        "tpm-not-listening",
        UNAVAILABLE,
        "",
        "--tpm-tcti",
        "swtpm:port=1",
        "--no-tpm-key-password",
        command="sign-string",
        own_process=True,
        private_key="handle:0x81000101",
        certificate="{cert}",
    ),
    tpm_case(
        "tpm-pcrs-on-plain-key",
        USAGE,
        "",
        "--tpm-pcrs",
        "sha256:0",
        "--tpm-key-password",
        "s3cret",
        private_key="{tpm_key}",
        certificate="{tpm_cert}",
    ),
]


@pytest.fixture
def tpm_world(world: World, tpm, openssl_ec_password) -> World:
    paths = dict(world.paths, tcti=tpm.tcti, tpm_key=openssl_ec_password.key, tpm_cert=str(openssl_ec_password.cert))
    return World(
        root=world.root,
        paths=paths,
        secrets=[*world.secrets, WRONG_TPM_PASSWORD, "s3cret"],
        emulator=world.emulator,
        watched=world.watched,
    )


@pytest.mark.swtpm
@pytest.mark.parametrize("bad", [c.param() for c in TPM])
def test_tpm_bad_input(bad, tpm_world, capfd, monkeypatch):
    check(bad, tpm_world, capfd, monkeypatch)
