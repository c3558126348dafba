"""``rasign.api``: botocore credentials and boto3 sessions from any backend."""

from __future__ import annotations

import threading

import pytest

from rasign import api
from rasign.clock import FakeClock
from rasign.errors import ConfigError, KeyLoadError, UsageError
from tests.support.flags import emulator_options

pytestmark = pytest.mark.network


def _options(emu, cert, key) -> dict:
    return {
        "certificate": str(cert),
        "private_key": str(key),
        "endpoint": emu.endpoint,
        "ca_bundle": str(emu.ca_bundle),
        "trust_anchor_arn": emu.trust_anchor_arn,
        "profile_arn": emu.profile_arn,
        "role_arn": emu.role_arn,
    }


def test_session_calls_sts_with_file_key(emulator, identity, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    session = api.session(**_options(emulator, *identity))
    assert session.region_name == "us-east-1"  # the trust anchor's region
    credentials = session.get_credentials()
    assert credentials.method == api.METHOD
    identity_doc = session.client(
        "sts", endpoint_url=emulator.sts_endpoint, verify=emulator.ca_bundle
    ).get_caller_identity()
    assert emulator.role_arn.rsplit("/", 1)[-1] in identity_doc["Arn"]


def test_explicit_region_wins(emulator, identity):
    session = api.session(region_name="eu-west-3", **_options(emulator, *identity))
    assert session.region_name == "eu-west-3"


def test_refresh_is_thread_safe_and_happens_once(make_emulator, identity):
    emu = make_emulator(profile_duration=40)
    clock = FakeClock()
    provider = api.RolesAnywhereCredentialProvider(
        advisory_timeout=39, mandatory_timeout=38, clock=clock, **_options(emu, *identity)
    )
    credentials = provider.load()
    first = credentials.get_frozen_credentials()
    clock.advance(2.5, settle=False)  # now inside the mandatory window: every reader must wait for one refresh
    emu.advance_clock(2.5)  # the emulator's clock moves with ours, so new credentials live 40 s from "now"
    count = emu.create_session_count
    results = []
    barrier = threading.Barrier(16)

    def read() -> None:
        barrier.wait()
        results.append(credentials.get_frozen_credentials())

    threads = [threading.Thread(target=read) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert emu.create_session_count == count + 1
    assert len({frozen.access_key for frozen in results}) == 1
    assert results[0].access_key != first.access_key
    provider.close()


def test_unknown_option_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown option"):
        api.RolesAnywhereCredentialProvider(certificate="c.pem", private_key="k.pem", rolearn="x")


def test_bad_arn_fails_before_the_key_is_touched(tmp_path):
    with pytest.raises(ConfigError):
        api.RolesAnywhereCredentialProvider(
            certificate=str(tmp_path / "missing.pem"),
            private_key=str(tmp_path / "missing-key.pem"),
            trust_anchor_arn="not-an-arn",
            profile_arn="x",
            role_arn="y",
        )


def test_missing_key_file_raises_the_cli_error(emulator, tmp_path):
    with pytest.raises(KeyLoadError):
        api.refreshable_credentials(**_options(emulator, tmp_path / "missing.pem", tmp_path / "missing-key.pem"))


@pytest.mark.softhsm
def test_pkcs11_key_stays_open_across_refreshes(hsm, make_emulator, monkeypatch):
    emu = make_emulator(profile_duration=40)
    monkeypatch.setenv("DELIVERY_TEST_PIN", hsm.pin("rasign-a"))
    uri = "pkcs11:token=rasign-a;object=ec-p256"
    clock = FakeClock()
    provider = api.RolesAnywhereCredentialProvider(
        certificate=uri,
        private_key=uri,
        pkcs11_lib=hsm.module,
        pkcs11_pin_env="DELIVERY_TEST_PIN",
        interactive=False,
        **emulator_options(emu),
        advisory_timeout=39,
        mandatory_timeout=38,
        clock=clock,
    )
    credentials = provider.load()
    first = credentials.get_frozen_credentials()
    signer = provider._minter._signer
    assert signer is not None and provider._minter.reopen_each_time is False
    clock.advance(2.5, settle=False)
    emu.advance_clock(2.5)
    second = credentials.get_frozen_credentials()
    assert second.access_key != first.access_key
    assert provider._minter._signer is signer  # one login for the provider's whole life
    import boto3

    sts = boto3.Session(
        aws_access_key_id=second.access_key,
        aws_secret_access_key=second.secret_key,
        aws_session_token=second.token,
        region_name="us-east-1",
    ).client("sts", endpoint_url=emu.sts_endpoint, verify=emu.ca_bundle)
    assert emu.role_arn.rsplit("/", 1)[-1] in sts.get_caller_identity()["Arn"]
    provider.close()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("advisory_timeout", float("nan"), "interval 'nan' is not a finite number"),
        ("mandatory_timeout", -1, "interval '-1' must be 0 or more seconds"),
    ],
)
def test_refresh_timeouts_follow_the_one_refresh_settings_rule(emulator, identity, name, value, problem):
    """Checked like serve's and update's refresh flags, at construction, before any key or request."""
    count = emulator.create_session_count
    with pytest.raises(ConfigError, match=f"^{name}: {problem}"):
        api.RolesAnywhereCredentialProvider(**{name: value}, **_options(emulator, *identity))
    assert emulator.create_session_count == count
