"""The credential cache key comes from the options model: every field has a cache decision.

A field marked ``key`` must change the key, ``ignore`` and ``secret`` fields must not, and a
secret never reaches the hashed material. A new option without a decision fails here (and
makes the cache step aside at run time rather than guess).
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from rasign import cache
from rasign.options import CACHE_DECISIONS, SessionOptions, SignerOptions

TA = "arn:aws:rolesanywhere:us-east-1:111122223333:trust-anchor/ta"
PR = "arn:aws:rolesanywhere:us-east-1:111122223333:profile/p"
RO = "arn:aws:iam::111122223333:role/r"

# A value different from the baseline for each field (baseline: defaults + a certificate).
ALTERNATIVES: dict[str, object] = {
    "certificate": "pkcs11:token=other;object=cert",
    "private_key": "pkcs11:token=t;object=key",
    "intermediates": "/etc/chain.pem",
    "cert_selector": "Key=x509Subject,Value=CN=a",
    "system_store_name": "LocalMachine\\My",
    "use_latest_expiring_certificate": True,
    "cert_store": "/srv/identities",
    "pkcs8_password": "hunter2-secret",
    "pkcs11_lib": "/usr/lib/softhsm/libsofthsm2.so",
    "pkcs11_init_args": "configdir=sql:/tmp/nssdb",
    "reuse_pin": True,
    "pkcs11_pin_file": "/run/pin",
    "pkcs11_pin_env": "MY_PIN",
    "pkcs11_context_pin_file": "/run/cpin",
    "pkcs11_context_pin_env": "MY_CPIN",
    "tpm_key_password": "tpm-secret-pw",
    "no_tpm_key_password": True,
    "tpm_parent_password": "parent-secret-pw",
    "tpm_tcti": "swtpm:port=2321",
    "tpm_pcrs": "sha256:0,7",
    "backend": "pkcs11",
    "interactive": False,
    "extra": {"slot": "2"},
    "role_arn": RO.replace("/r", "/other"),
    "profile_arn": PR.replace("/p", "/q"),
    "trust_anchor_arn": TA.replace("/ta", "/tb"),
    "session_duration": 900,
    "role_session_name": "name",
    "instance_properties": {"k": "v"},
    "region": "us-east-1",
    "endpoint": "https://127.0.0.1:8443",
    "use_fips_endpoint": True,
    "use_dualstack_endpoint": True,
    "ca_bundle": "/etc/ca.pem",
    "no_verify_ssl": True,
    "with_proxy": True,
    "connect_timeout": 3.0,
    "read_timeout": 4.0,
    "max_attempts": 5,
}


def _all_fields():
    for cls in (SignerOptions, SessionOptions):
        for item in dataclasses.fields(cls):
            yield cls, item


def _baseline(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_bytes(b"certificate bytes")
    signer = SignerOptions(certificate=str(cert), private_key=str(tmp_path / "key.pem"))
    session = SessionOptions(trust_anchor_arn=TA, profile_arn=PR, role_arn=RO)
    return signer, session


@pytest.mark.parametrize("cls, item", list(_all_fields()), ids=lambda v: getattr(v, "name", getattr(v, "__name__", "")))
def test_every_option_has_a_cache_decision(cls, item):
    assert item.metadata.get("cache") in CACHE_DECISIONS, (
        f"{cls.__name__}.{item.name} needs metadata={{'cache': 'key'|'ignore'|'secret'}} in rasign/options.py"
    )
    assert item.name in ALTERNATIVES, f"add an alternative value for {item.name} to this test"


@pytest.mark.parametrize("cls, item", list(_all_fields()), ids=lambda v: getattr(v, "name", getattr(v, "__name__", "")))
def test_key_fields_change_the_key_and_others_do_not(cls, item, tmp_path):
    signer, session = _baseline(tmp_path)
    base = cache.cache_key(signer, session)
    assert base is not None
    target = signer if cls is SignerOptions else session
    changed = dataclasses.replace(target, **{item.name: ALTERNATIVES[item.name]})
    key = cache.cache_key(changed, session) if cls is SignerOptions else cache.cache_key(signer, changed)
    if item.metadata["cache"] == "key":
        assert key is not None and key != base, f"{item.name} changes the credentials but not the key"
    else:
        assert key == base, f"{item.name} is {item.metadata['cache']} but changed the key"


def test_a_field_without_decision_disables_the_cache(tmp_path):
    @dataclasses.dataclass
    class NewSignerOptions(SignerOptions):
        new_knob: str = "x"

    signer, session = _baseline(tmp_path)
    grown = NewSignerOptions(certificate=signer.certificate)
    assert cache.cache_key(grown, session) is None


def test_secrets_never_reach_the_hashed_material(tmp_path, monkeypatch):
    seen: list[bytes] = []
    real = hashlib.sha256

    def spy(data: bytes = b"", **kwargs):
        seen.append(bytes(data))
        return real(data, **kwargs)

    monkeypatch.setattr(cache.hashlib, "sha256", spy)
    signer, session = _baseline(tmp_path)
    signer = dataclasses.replace(
        signer,
        pkcs8_password="pw-in-clear-1",
        tpm_key_password="pw-in-clear-2",
        tpm_parent_password="pw-in-clear-3",
        private_key="pkcs11:token=t;object=k?pin-value=pw-in-clear-4",
        extra={"pin": "pw-in-clear-5", "user-password": "pw-in-clear-6", "slot": "1"},
    )
    assert cache.cache_key(signer, session) is not None
    material = b"\n".join(seen)
    assert b"pw-in-clear" not in material
    assert b"slot" in material


@pytest.mark.parametrize(
    "variable, value",
    [
        ("AWS_ENDPOINT_URL", "https://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL_ROLESANYWHERE", "https://127.0.0.1:2"),
        ("AWS_CA_BUNDLE", "/etc/other-ca.pem"),
        ("AWS_USE_FIPS_ENDPOINT", "true"),
        ("TPM_DEVICE", "/dev/tpm1"),
        ("TPM2TOOLS_TCTI", "swtpm:port=2400"),
    ],
)
def test_environment_that_changes_the_endpoint_or_tpm_is_in_the_key(variable, value, tmp_path, monkeypatch):
    for name in cache.KEY_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    signer, session = _baseline(tmp_path)
    base = cache.cache_key(signer, session)
    monkeypatch.setenv(variable, value)
    assert cache.cache_key(signer, session) != base


def test_a_fifo_certificate_is_uncacheable_without_blocking(tmp_path):
    import os

    fifo = tmp_path / "cert.fifo"
    os.mkfifo(fifo)
    signer, session = _baseline(tmp_path)
    assert cache.cache_key(dataclasses.replace(signer, certificate=str(fifo)), session) is None
    fifo_key = dataclasses.replace(signer, private_key=str(fifo))
    assert cache.cache_wanted(type("Args", (), {"cache": None})(), fifo_key) is False


def test_cli_mints_again_when_tls_verification_or_module_changes(emulator, pki, tmp_path):
    """Credentials minted with TLS verification are not served to a --no-verify-ssl call."""
    from tests.conftest import emulator_args, run_rasign

    cert, key = pki.software_identity(stem="cache-key")
    env = {"RASIGN_CACHE_DIR": str(tmp_path / "cache")}
    base = [
        "credential-process",
        "--cache",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        *emulator_args(emulator),
    ]
    before = emulator.create_session_count
    first = run_rasign(*base, env=env)
    again = run_rasign(*base, env=env)
    insecure = run_rasign(*base, "--no-verify-ssl", env=env)
    assert (first.returncode, again.returncode, insecure.returncode) == (0, 0, 0), insecure.stderr
    assert first.stdout == again.stdout != insecure.stdout
    assert emulator.create_session_count - before == 2
