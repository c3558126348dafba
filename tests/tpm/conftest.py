"""swtpm fixtures for the TPM backend tests.

One TCP swtpm and one unix-socket swtpm serve the whole run (keys are made once, they
are the slow part); tests that restart a TPM or change its owner password get their
own. Each instance starts in a temporary state directory with dictionary-attack limits
lifted, and every test that used the shared TPM checks afterwards that no transient
object was left behind (swtpm has three slots and no resource manager).

When swtpm or tpm2-tools are missing the tests skip, except under CI=true, where a
missing tool is a broken install and must fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tpm import keys
from tests.tpm.swtpm import Swtpm, openssl_has_tpm2_provider, tools_missing

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    """Mark every test that talks to a swtpm, so ``-m "not swtpm"`` runs only the pure ones."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents and {"tpm", "tpm_unix", "swtpm_factory"} & set(
            getattr(item, "fixturenames", ())
        ):
            item.add_marker(pytest.mark.swtpm)


def _require_tools() -> None:
    missing = tools_missing()
    if missing and not os.environ.get("CI"):
        pytest.skip(f"TPM test tools missing: {', '.join(missing)}")


@pytest.fixture(scope="session")
def tpm_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tpm")


@pytest.fixture(scope="session")
def tpm(tpm_dir) -> Iterator[Swtpm]:
    """The shared swtpm over TCP."""
    _require_tools()
    instance = Swtpm(tpm_dir / "tcp", transport="tcp").start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def tpm_unix(tpm_dir) -> Iterator[Swtpm]:
    """A second swtpm, over a unix socket (also "another TPM" for integrity tests)."""
    _require_tools()
    instance = Swtpm(tpm_dir / "unix", transport="unix").start()
    yield instance
    instance.stop()


@pytest.fixture
def swtpm_factory(tmp_path) -> Iterator:
    """Start private swtpm instances (``factory("tcp")`` / ``factory("unix")``), stopped after the test."""
    _require_tools()
    started: list[Swtpm] = []

    def factory(transport: str = "tcp") -> Swtpm:
        instance = Swtpm(tmp_path / f"swtpm-{len(started)}", transport=transport).start()
        started.append(instance)
        return instance

    yield factory
    for instance in started:
        instance.stop()


@pytest.fixture
def fresh_tpm(swtpm_factory) -> Swtpm:
    """A private swtpm for tests that restart it or change its hierarchy passwords."""
    return swtpm_factory("tcp")


@pytest.fixture(autouse=True)
def _no_leaked_handles(request) -> Iterator[None]:
    yield
    for name in ("tpm", "tpm_unix"):
        if name in request.fixturenames:
            instance = request.getfixturevalue(name)
            if instance.process is not None:
                leaked = instance.transient_handles() + instance.loaded_sessions()
                if leaked:
                    keys.flush_transient(instance)
                assert leaked == [], f"transient objects or sessions left in {name}: {[hex(h) for h in leaked]}"


@pytest.fixture(scope="session")
def openssl_tpm2(tpm) -> None:
    if not openssl_has_tpm2_provider(tpm):
        if os.environ.get("CI"):
            pytest.fail("the tpm2 OpenSSL provider (tpm2-openssl) is not installed")
        pytest.skip("the tpm2 OpenSSL provider (tpm2-openssl) is not installed")


def _identity(pki, directory: Path, key: str, public_pem: Path, **kwargs) -> keys.TpmIdentity:
    from cryptography.hazmat.primitives import serialization

    public_key = serialization.load_pem_public_key(public_pem.read_bytes())
    cert = directory / (Path(key.replace(":", "_")).name + ".cert.pem")
    pki.issue(public_key, cert, cn=f"tpm {Path(key).name}")
    return keys.TpmIdentity(key=key, cert=cert, public_pem=public_pem, **kwargs)


@pytest.fixture(scope="session")
def openssl_rsa(tpm, openssl_tpm2, tpm_dir, pki) -> keys.TpmIdentity:
    key = keys.openssl_key(tpm, tpm_dir / "openssl-rsa.pem", "RSA")
    return _identity(pki, tpm_dir, str(key), keys.openssl_public_pem(tpm, key, tpm_dir / "openssl-rsa.pub.pem"))


@pytest.fixture(scope="session")
def openssl_ec(tpm, openssl_tpm2, tpm_dir, pki) -> keys.TpmIdentity:
    key = keys.openssl_key(tpm, tpm_dir / "openssl-ec.pem", "EC")
    return _identity(pki, tpm_dir, str(key), keys.openssl_public_pem(tpm, key, tpm_dir / "openssl-ec.pub.pem"))


@pytest.fixture(scope="session")
def openssl_ec_password(tpm, openssl_tpm2, tpm_dir, pki) -> keys.TpmIdentity:
    key = keys.openssl_key(tpm, tpm_dir / "openssl-ec-auth.pem", "EC", password="s3cret")
    public = tpm_dir / "openssl-ec-auth.pub.pem"
    public.write_bytes(keys.public_pem_of_key_file(key))  # openssl pkey would want the password
    return _identity(pki, tpm_dir, str(key), public, password="s3cret")


@pytest.fixture(scope="session")
def handle_rsa(tpm, tpm_dir, pki) -> keys.TpmIdentity:
    """tpm2-tools RSA-2048 key (scheme left open) with a password, persistent at 0x81000101."""
    public = keys.tools_persistent_key(tpm, tpm_dir, 0x81000101, "rsa2048", password="hpw")
    return _identity(pki, tpm_dir, "handle:0x81000101", public, password="hpw")


@pytest.fixture(scope="session")
def handle_ec(tpm, tpm_dir, pki) -> keys.TpmIdentity:
    """tpm2-tools P-256 key without a password, persistent at 0x81000102."""
    public = keys.tools_persistent_key(tpm, tpm_dir, 0x81000102, "ecc256:ecdsa-sha256")
    return _identity(pki, tpm_dir, "handle:0x81000102", public, extra_args=("--no-tpm-key-password",))


@pytest.fixture(scope="session")
def handle_pcr(tpm, tpm_dir, pki) -> keys.TpmIdentity:
    """tpm2-tools P-256 key usable only through PolicyPCR(sha256:23), persistent at 0x81000103."""
    public = keys.tools_persistent_key(tpm, tpm_dir, 0x81000103, "ecc256:ecdsa-sha256", policy_pcrs="sha256:23")
    return _identity(pki, tpm_dir, "handle:0x81000103", public, extra_args=("--tpm-pcrs", "sha256:23"))


@pytest.fixture(scope="session")
def pcr_key(tpm, tpm_dir, pki) -> keys.TpmIdentity:
    """tpm2-pytss key file bound by PolicyPCR to sha256:16."""
    key = keys.pytss_policy_key(tpm, tpm_dir / "pcr-policy.pem", pcr=16)
    public = tpm_dir / "pcr-policy.pub.pem"
    public.write_bytes(keys.public_pem_of_key_file(key))
    return _identity(pki, tpm_dir, str(key), public)


@pytest.fixture(scope="session")
def pcr_auth_key(tpm, tpm_dir, pki) -> keys.TpmIdentity:
    """tpm2-pytss key file bound by PolicyPCR(sha256:16) + PolicyAuthValue, password 'pcrpw'."""
    key = keys.pytss_policy_key(tpm, tpm_dir / "pcr-auth-policy.pem", pcr=16, with_auth_value="pcrpw")
    public = tpm_dir / "pcr-auth-policy.pub.pem"
    public.write_bytes(keys.public_pem_of_key_file(key))
    return _identity(pki, tpm_dir, str(key), public, password="pcrpw")


@pytest.fixture(scope="session")
def parent_password_key(tpm, tpm_dir, pki) -> keys.TpmIdentity:
    """tpm2-pytss key file under a persistent parent (0x81000001) whose password is 'parentpw'."""
    key = keys.pytss_key_under_persistent_parent(
        tpm, tpm_dir / "under-parent.pem", parent_handle=0x81000001, parent_password="parentpw"
    )
    public = tpm_dir / "under-parent.pub.pem"
    public.write_bytes(keys.public_pem_of_key_file(key))
    return _identity(pki, tpm_dir, str(key), public, extra_args=("--tpm-parent-password", "parentpw"))


@pytest.fixture(scope="session")
def importable_key(tpm, tpm_dir, pki) -> keys.TpmIdentity:
    """A software P-256 key wrapped for the shared TPM (importable TSS2 key, OID .1.4)."""
    key, public_pem = keys.pytss_importable_key(tpm, tpm_dir / "importable.pem")
    public = tpm_dir / "importable.pub.pem"
    public.write_bytes(public_pem)  # the software key's own public half
    return _identity(pki, tpm_dir, str(key), public)


@pytest.fixture(scope="session")
def decrypt_only_key(tpm, tpm_dir) -> Path:
    return keys.tools_decrypt_only_key(tpm, tpm_dir)


@pytest.fixture(scope="session")
def foreign_key(tpm_unix, openssl_tpm2, tpm_dir, pki) -> keys.TpmIdentity:
    """A key made by tpm2-openssl on the *other* swtpm: the shared one must refuse it."""
    key = keys.openssl_key(tpm_unix, tpm_dir / "foreign-ec.pem", "EC")
    public = tpm_dir / "foreign-ec.pub.pem"
    public.write_bytes(keys.public_pem_of_key_file(key))
    return _identity(pki, tpm_dir, str(key), public)
