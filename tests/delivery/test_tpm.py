"""Delivery with a TPM key (swtpm): cache on by default for a password key, the Python API."""

from __future__ import annotations

import pytest

from rasign import api
from rasign.clock import FakeClock
from tests.conftest import emulator_args, run_rasign
from tests.support.flags import emulator_options

pytestmark = [pytest.mark.swtpm, pytest.mark.network]


def test_credential_process_caches_by_default_for_a_tpm_key_with_password(tpm, openssl_ec_password, emulator, tmp_path):
    identity = openssl_ec_password
    # The password comes from the environment: the default rule must see from the key file
    # itself (TSS2 emptyAuth absent/false) that minting would need a secret.
    env = {"RASIGN_TPM_KEY_PASSWORD": identity.password, "RASIGN_CACHE_DIR": str(tmp_path / "c")}
    args = [
        "credential-process",
        "--certificate",
        str(identity.cert),
        "--private-key",
        identity.key,
        "--tpm-tcti",
        tpm.tcti,
        *emulator_args(emulator),
    ]
    before = emulator.create_session_count
    first = run_rasign(*args, env=env)
    assert first.returncode == 0, first.stderr
    second = run_rasign(*args, env=env)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert emulator.create_session_count == before + 1


def test_api_session_with_a_tpm_key_refreshes_on_the_open_key(tpm, openssl_ec_password, make_emulator):
    emu = make_emulator(profile_duration=40)
    identity = openssl_ec_password
    clock = FakeClock()
    provider = api.RolesAnywhereCredentialProvider(
        clock=clock,
        certificate=str(identity.cert),
        private_key=identity.key,
        tpm_tcti=tpm.tcti,
        tpm_key_password=identity.password,
        interactive=False,
        **emulator_options(emu),
        advisory_timeout=39,
        mandatory_timeout=38,
    )
    try:
        credentials = provider.load()
        first = credentials.get_frozen_credentials()
        assert provider._minter.reopen_each_time is False
        clock.advance(2.5, settle=False)  # inside the mandatory window
        emu.advance_clock(2.5)
        second = credentials.get_frozen_credentials()
        assert second.access_key != first.access_key
        import boto3

        sts = boto3.Session(
            aws_access_key_id=second.access_key,
            aws_secret_access_key=second.secret_key,
            aws_session_token=second.token,
            region_name="us-east-1",
        ).client("sts", endpoint_url=emu.sts_endpoint, verify=emu.ca_bundle)
        assert emu.role_arn.rsplit("/", 1)[-1] in sts.get_caller_identity()["Arn"]
    finally:
        provider.close()
