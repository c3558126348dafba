"""The credential_process cache: keys, privacy, validity margin, and the AWS CLI using it."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import stat
import subprocess
import sys

import pytest

from rasign import cache
from rasign.errors import StoreError
from rasign.options import SessionOptions, SignerOptions
from tests.conftest import clean_env, emulator_args
from tests.delivery.helpers import aws_env, identity_args
from tests.support.sdk import aws_cli_arn


def _iso(seconds_from_now: float) -> str:
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds_from_now)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("RASIGN_CACHE_DIR", str(directory))
    monkeypatch.delenv("RASIGN_CACHE_MARGIN", raising=False)
    return directory


@pytest.fixture
def options(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    signer = SignerOptions(certificate=str(cert), private_key=str(tmp_path / "key.pem"))
    session = SessionOptions(role_arn="arn:aws:iam::1:role/r", profile_arn="arn:p", trust_anchor_arn="arn:t")
    return signer, session


def test_key_is_stable_and_changes_with_every_input(options, tmp_path):
    signer, session = options
    base = cache.cache_key(signer, session)
    assert base == cache.cache_key(signer, session) and len(base) == 64
    variants = [
        ("role_arn", "arn:aws:iam::1:role/other"),
        ("profile_arn", "arn:p2"),
        ("trust_anchor_arn", "arn:t2"),
        ("session_duration", 900),
        ("role_session_name", "me"),
        ("region", "eu-west-1"),
        ("endpoint", "https://localhost:1"),
    ]
    seen = {base}
    for field, value in variants:
        changed = SessionOptions(**{**session.__dict__, field: value})
        key = cache.cache_key(signer, changed)
        assert key not in seen, field
        seen.add(key)
    # A renewed certificate (different bytes at the same path) is a different identity.
    (tmp_path / "cert.pem").write_bytes(b"renewed")
    assert cache.cache_key(signer, session) not in seen


def test_pkcs11_pin_value_never_reaches_the_key(options):
    _, session = options
    with_pin = SignerOptions(
        certificate="pkcs11:token=t;object=c?pin-value=1234", private_key="pkcs11:token=t;object=c?pin-value=1234"
    )
    other_pin = SignerOptions(
        certificate="pkcs11:token=t;object=c?pin-value=9999", private_key="pkcs11:token=t;object=c?pin-value=9999"
    )
    assert cache.cache_key(with_pin, session) == cache.cache_key(other_pin, session)
    assert cache._strip_pin_value("pkcs11:token=t?pin-value=1&module-name=x") == "pkcs11:token=t?module-name=x"


def test_unreadable_certificate_means_no_caching(options, tmp_path):
    _, session = options
    assert cache.cache_key(SignerOptions(certificate=str(tmp_path / "missing.pem")), session) is None


def test_store_then_load_roundtrip_with_private_modes(cache_dir):
    key = "a" * 64
    payload = '{"Version":1,"AccessKeyId":"A"}'
    cache.store_cached(key, payload, _iso(3600))
    assert cache.load_cached(key) == payload
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(cache_dir / f"{key}.json").st_mode) == 0o600
    assert [p.name for p in cache_dir.iterdir()] == [f"{key}.json"]


def test_entries_inside_the_safety_margin_are_not_used(cache_dir, monkeypatch):
    key = "b" * 64
    cache.store_cached(key, "{}", _iso(600))
    assert cache.load_cached(key) is None  # 10 min left < 15 min margin
    monkeypatch.setenv("RASIGN_CACHE_MARGIN", "60")
    assert cache.load_cached(key) == "{}"
    cache.store_cached(key, "{}", _iso(-10))
    assert cache.load_cached(key) is None
    assert cache.purge_expired() == 1


def test_an_entry_stops_being_used_when_the_clock_reaches_its_margin(cache_dir):
    """Expiry is read from the injected clock: an hour of validity passes in no real time."""
    from rasign.clock import FakeClock

    clock = FakeClock()
    key = "e" * 64
    expires = clock.now() + dt.timedelta(seconds=cache.DEFAULT_MARGIN_SECONDS + 3600)
    cache.store_cached(key, "{}", expires.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert cache.load_cached(key, clock=clock) == "{}"
    clock.advance(3599, settle=False)
    assert cache.load_cached(key, clock=clock) == "{}"  # one second outside the margin
    clock.advance(2, settle=False)
    try:
        assert cache.load_cached(key, clock=clock) is None  # inside the margin: a miss (the mint lock is ours)
    finally:
        cache._release_mint_lock(key)
    assert cache.purge_expired(clock) == 0  # not expired yet, only too close to use
    clock.advance(cache.DEFAULT_MARGIN_SECONDS, settle=False)
    assert cache.purge_expired(clock) == 1


def test_corrupt_or_foreign_entries_are_ignored(cache_dir):
    key = "c" * 64
    cache.store_cached(key, "{}", _iso(3600))
    entry = cache_dir / f"{key}.json"
    entry.write_text("not json")
    assert cache.load_cached(key) is None
    cache.store_cached(key, "{}", _iso(3600))
    os.chmod(entry, 0o644)  # readable by others: someone else may have written it
    assert cache.load_cached(key) is None


def test_group_or_world_writable_directory_is_refused(cache_dir):
    cache_dir.mkdir(mode=0o700)
    os.chmod(cache_dir, 0o777)
    with pytest.raises(StoreError, match="writable by group or others"):
        cache.load_cached("d" * 64)


def test_symlinked_directory_is_refused(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    monkeypatch.setenv("RASIGN_CACHE_DIR", str(link))
    with pytest.raises(StoreError, match="not a directory"):
        cache.store_cached("e" * 64, "{}", _iso(3600))


def test_directory_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("RASIGN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert cache.cache_dir() == str(tmp_path / "rasign")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == str(tmp_path / "home" / ".cache" / "rasign")


def _tss2_pem(tmp_path, empty_auth: bool | None) -> str:
    oid = bytes.fromhex("06066781050a0103")  # 2.23.133.10.1.3 (loadable key)
    body = oid
    if empty_auth is not None:
        body += bytes.fromhex("a003010101" if empty_auth else "a003010100")
    # parent 0x40000001 (owner), then pubkey and privkey as TPM2B blobs (2-byte size + bytes)
    body += bytes.fromhex("020440000001") + bytes.fromhex("04040002abcd") + bytes.fromhex("04040002abcd")
    der = bytes([0x30, len(body)]) + body
    path = tmp_path / f"key-{empty_auth}.pem"
    path.write_text(
        "-----BEGIN TSS2 PRIVATE KEY-----\n" + base64.b64encode(der).decode() + "\n-----END TSS2 PRIVATE KEY-----\n"
    )
    return str(path)


def test_cache_wanted_default_rule(tmp_path):
    """The cache is on by default exactly when the signing backend says a person may be needed."""

    def wanted(cache_flag: bool | None = None, **options: object) -> bool:
        return cache.cache_wanted(argparse.Namespace(cache=cache_flag), SignerOptions(**options))

    assert wanted(certificate="c.pem", private_key="k.pem") is False
    assert wanted(certificate="pkcs11:token=t") is True
    assert wanted(certificate="c.pem", private_key="pkcs11:object=k") is True
    assert wanted(certificate="c.pem", private_key="handle:0x81000001") is True
    assert wanted(certificate="c.pem", private_key="handle:0x81000001", no_tpm_key_password=True) is False
    assert wanted(certificate="c.pem", private_key=_tss2_pem(tmp_path, True)) is False
    assert wanted(certificate="c.pem", private_key=_tss2_pem(tmp_path, False)) is True
    assert wanted(certificate="c.pem", private_key=_tss2_pem(tmp_path, None)) is True
    assert wanted(cert_selector="Key=x509Subject,Value=CN=a", pkcs11_lib="/usr/lib/softhsm/libsofthsm2.so") is True
    assert wanted(cert_selector="Key=x509Subject,Value=CN=a", cert_store=str(tmp_path)) is False
    assert wanted() is False  # no identity at all: not cached, the normal path reports it
    assert wanted(True, certificate="c.pem", private_key="k.pem") is True
    assert wanted(False, certificate="pkcs11:x") is False


def _process(emulator, cert, key, *extra):
    return [
        sys.executable,
        "-m",
        "rasign",
        "credential-process",
        *identity_args(cert, key),
        *emulator_args(emulator),
        *extra,
    ]


@pytest.mark.network
def test_cache_hit_returns_same_json_without_create_session(emulator, identity, tmp_path):
    cert, key = identity
    env = clean_env({"RASIGN_CACHE_DIR": str(tmp_path / "c")})
    before = emulator.create_session_count
    first = subprocess.run(
        _process(emulator, cert, key, "--cache"), env=env, check=False, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    second = subprocess.run(
        _process(emulator, cert, key, "--cache"), env=env, check=False, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0 and second.stdout == first.stdout
    assert emulator.create_session_count == before + 1
    # --no-cache (the default for files) mints again
    third = subprocess.run(
        _process(emulator, cert, key), env=env, check=False, capture_output=True, text=True, timeout=60
    )
    assert json.loads(third.stdout)["AccessKeyId"] != json.loads(first.stdout)["AccessKeyId"]


@pytest.mark.network
def test_cache_hit_imports_neither_cryptography_nor_an_https_client(emulator, identity, tmp_path):
    cert, key = identity
    env = clean_env({"RASIGN_CACHE_DIR": str(tmp_path / "c")})
    env = {name: value for name, value in env.items() if not name.lower().endswith("_proxy")}
    assert (
        subprocess.run(
            _process(emulator, cert, key, "--cache"), env=env, check=False, capture_output=True, timeout=60
        ).returncode
        == 0
    )
    probe = (
        "import sys\n"
        "from rasign.cli.main import main\n"
        "rc = main(sys.argv[1:])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('cryptography', 'requests', 'urllib3', 'botocore',"
        " 'ssl', 'http') or m in ('rasign.transport', 'rasign.proxies'))\n"
        "print('\\nHEAVY=' + ','.join(heavy), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    args = _process(emulator, cert, key, "--cache")[3:]
    result = subprocess.run(
        [sys.executable, "-c", probe, *args], env=env, check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("HEAVY="), result.stderr
    assert json.loads(result.stdout)["Version"] == 1


@pytest.mark.network
@pytest.mark.awscli
def test_aws_cli_reuses_cached_credentials(emulator, identity, tmp_path):
    cert, key = identity
    command = " ".join(_process(emulator, cert, key, "--cache"))
    config = tmp_path / "config"
    config.write_text(f"[profile ra]\nregion = us-east-1\ncredential_process = {command}\n")
    env = aws_env(tmp_path, AWS_CONFIG_FILE=str(config))
    env["RASIGN_CACHE_DIR"] = str(tmp_path / "cli-cache")
    env["PYTHONPATH"] = str(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    before = emulator.create_session_count
    arns = []
    for _ in range(3):
        arns.append(aws_cli_arn(env, emulator, profile="ra"))
    assert emulator.create_session_count == before + 1  # one CreateSession for three CLI calls
    assert len(set(arns)) == 1 and emulator.role_arn.rsplit("/", 1)[-1] in arns[0]
    entries = list((tmp_path / "cli-cache").glob("*.json"))
    assert len(entries) == 1 and stat.S_IMODE(entries[0].stat().st_mode) == 0o600


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_directory_owned_by_another_user_is_refused(cache_dir):
    cache_dir.mkdir(mode=0o700)
    os.chown(cache_dir, 65534, 65534)
    with pytest.raises(StoreError, match="owned by another user"):
        cache.load_cached("f" * 64)


def test_unsafe_directory_is_one_clear_cli_error(tmp_path):
    from tests.conftest import run_rasign

    directory = tmp_path / "shared"
    directory.mkdir()
    os.chmod(directory, 0o777)
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    result = run_rasign(
        "credential-process",
        "--cache",
        "--certificate",
        str(cert),
        "--private-key",
        str(cert),
        "--trust-anchor-arn",
        "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/x",
        "--profile-arn",
        "arn:aws:rolesanywhere:us-east-1:123456789012:profile/x",
        "--role-arn",
        "arn:aws:iam::123456789012:role/x",
        env={"RASIGN_CACHE_DIR": str(directory)},
    )
    assert result.returncode == 13
    assert result.stderr.startswith("rasign: error: the credential cache") and "chmod 700" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.network
def _holds_a_mint_lock(pid: int) -> bool:
    """Whether process ``pid`` has a cache ``.lock`` file open (holding or waiting for the mint lock)."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}").endswith(".lock"):
                return True
        except OSError:
            continue
    return False


def test_parallel_misses_mint_once(make_emulator, identity, tmp_path):
    """Four credential-process calls at once (a CLI script in parallel): one CreateSession."""
    from tests.delivery.helpers import wait_for

    emu = make_emulator()
    emu.hold_sessions()  # the first minter is slow, as with a PIN prompt or a touch
    cert, key = identity
    env = clean_env({"RASIGN_CACHE_DIR": str(tmp_path / "c")})
    processes = [
        subprocess.Popen(
            _process(emu, cert, key, "--cache"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    try:
        # One process is inside CreateSession and the other three wait on the mint lock:
        # all four missed the cache at the same time.
        wait_for(lambda: emu.held_sessions == 1, 30, 0.02, message="the first CreateSession")
        wait_for(lambda: all(_holds_a_mint_lock(p.pid) for p in processes), 30, 0.02, message="all four at the lock")
    finally:
        emu.release_sessions()
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outputs
    assert len({out for out, _ in outputs}) == 1
    assert emu.create_session_count == 1


def test_failed_mint_releases_the_lock(cache_dir):
    key = "9" * 64
    assert cache.load_cached(key) is None  # miss: this process now holds the mint lock
    cache._release_mint_lock(key)  # what process exit does after a failed CreateSession
    fd = cache._acquire_mint_lock(key)
    assert fd is not None
    os.close(fd)


@pytest.mark.network
def test_cached_and_fresh_runs_log_no_secret_at_debug(emulator, identity, tmp_path):
    cert, key = identity
    env = clean_env({"RASIGN_CACHE_DIR": str(tmp_path / "c")})
    runs = [
        subprocess.run(
            _process(emulator, cert, key, "--cache", "--debug"),
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    document = json.loads(runs[0].stdout)
    assert "DEBUG" in runs[0].stderr
    for secret in (document["AccessKeyId"], document["SecretAccessKey"], document["SessionToken"]):
        assert secret not in runs[0].stderr and secret not in runs[1].stderr
