"""doctor on each broken set-up it claims to detect: the failing check and its fix."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from rasign.doctor import FAIL, PASS, WARN, run_checks
from rasign.options import SessionOptions, SignerOptions
from tests.conftest import emulator_args, run_rasign
from tests.pkcs11.conftest import hsm  # noqa: F401 - the session's SoftHSM tokens
from tests.support.flags import emulator_options
from tests.support.pki import key_pem, make_ca, new_key
from tests.tpm.conftest import tpm, tpm_dir  # noqa: F401 - the session's software TPM

pytestmark = pytest.mark.network
NOW = dt.datetime.now(dt.timezone.utc)


def session_for(emulator, **changes) -> SessionOptions:
    values = dict(
        **emulator_options(emulator),
        connect_timeout=5.0,
    )
    values.update(changes)
    return SessionOptions(**values)


def leaf(pki, tmp_path, stem="doc", **issue):
    key = new_key()
    key_path = tmp_path / f"{stem}-key.pem"
    key_path.write_bytes(key_pem(key))
    cert_path = tmp_path / f"{stem}-cert.pem"
    pki.issue(key.public_key(), cert_path, **issue)
    return cert_path, key_path


def failing(results, name):
    found = [check for check in results if check.name == name]
    assert found, results
    assert found[0].status == FAIL, found
    return found[0]


def test_healthy_setup_passes_every_check_and_exits_0(pki, emulator, tmp_path):
    cert, key = leaf(pki, tmp_path)
    result = run_rasign(
        "doctor",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        *emulator_args(emulator),
        "--trust-anchor-pem",
        str(pki.root_path),
        "--live",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("✓ ") for line in lines), result.stdout
    names = [line.split(":")[0][2:] for line in lines]
    assert names == ["arns", "certificate", "chain", "key", "dns", "tcp", "tls", "clock", "live"]


@pytest.mark.parametrize(
    "issue, expected, fix",
    [
        ({"digital_signature": False}, "lacks the digitalSignature", "keyUsage"),
        ({"not_after": NOW - dt.timedelta(days=1), "not_before": NOW - dt.timedelta(days=30)}, "expired", "renew"),
        ({"not_before": NOW + dt.timedelta(days=2)}, "not valid before", "clock"),
    ],
)
def test_bad_certificates(pki, emulator, tmp_path, issue, expected, fix):
    cert, key = leaf(pki, tmp_path, **issue)
    results = run_checks(
        SignerOptions(certificate=str(cert), private_key=str(key)), session_for(emulator), network=False
    )
    check = failing(results, "certificate")
    assert expected in check.detail and fix in check.fix


def test_ca_certificate_instead_of_leaf(pki, emulator, tmp_path):
    ca = make_ca("not a leaf", pki.root)
    path = tmp_path / "ca.pem"
    path.write_bytes(ca.pem)
    results = run_checks(SignerOptions(certificate=str(path)), session_for(emulator), network=False)
    assert "CA certificate" in failing(results, "certificate").detail


def test_certificate_expiring_soon_is_a_warning(pki, emulator, tmp_path):
    cert, key = leaf(pki, tmp_path, not_after=NOW + dt.timedelta(days=3))
    results = run_checks(
        SignerOptions(certificate=str(cert), private_key=str(key)), session_for(emulator), network=False
    )
    assert [c.status for c in results if c.name == "certificate"] == [WARN]


def test_chain_order_duplicates_depth_and_anchor(pki, emulator, tmp_path):
    first = make_ca("inter one", pki.root)
    second = make_ca("inter two", first)
    cert, key = leaf(pki, tmp_path, issuer=second)
    options = SignerOptions(certificate=str(cert), private_key=str(key), intermediates=str(tmp_path / "chain.pem"))

    (tmp_path / "chain.pem").write_bytes(first.pem + second.pem)  # wrong order
    wrong_order = run_checks(options, session_for(emulator), network=False)
    assert "not issued by the next" in failing(wrong_order, "chain").detail
    (tmp_path / "chain.pem").write_bytes(second.pem + second.pem)
    assert "appears twice" in failing(run_checks(options, session_for(emulator), network=False), "chain").detail
    deep = [make_ca("deep 0", pki.root)]
    for index in range(1, 5):
        deep.append(make_ca(f"deep {index}", deep[-1]))
    deep_cert, _ = leaf(pki, tmp_path, stem="deep", issuer=deep[-1])
    (tmp_path / "chain.pem").write_bytes(b"".join(ca.pem for ca in reversed(deep)))
    deep_options = SignerOptions(certificate=str(deep_cert), intermediates=str(tmp_path / "chain.pem"))
    assert "at most 5" in failing(run_checks(deep_options, session_for(emulator), network=False), "chain").detail

    (tmp_path / "chain.pem").write_bytes(second.pem + first.pem)
    other_root = tmp_path / "other-root.pem"
    other_root.write_bytes(make_ca("some other root").pem)
    foreign = run_checks(options, session_for(emulator), trust_anchor_pem=str(other_root), network=False)
    check = failing(foreign, "chain")
    assert "does not chain to the trust anchor" in check.detail and "--intermediates" in check.fix
    good = run_checks(options, session_for(emulator), trust_anchor_pem=str(pki.root_path), network=False)
    assert [c.status for c in good if c.name == "chain"] == [PASS]


def test_key_that_does_not_match(pki, emulator, tmp_path):
    cert, _ = leaf(pki, tmp_path)
    _, other_key = leaf(pki, tmp_path, stem="other")
    check = failing(
        run_checks(
            SignerOptions(certificate=str(cert), private_key=str(other_key)), session_for(emulator), network=False
        ),
        "key",
    )
    assert "does not match" in check.detail and "issued for" in check.fix


def test_incoherent_arns(pki, emulator, tmp_path):
    cert, key = leaf(pki, tmp_path)
    wrong = emulator.profile_arn.replace(":us-east-1:", ":eu-west-1:")
    results = run_checks(
        SignerOptions(certificate=str(cert), private_key=str(key)),
        session_for(emulator, profile_arn=wrong),
        network=True,
    )
    check = failing(results, "arns")
    assert "region" in (check.detail + check.fix)
    assert not any(c.name == "tcp" for c in results)  # no network check after a local failure


def test_role_in_another_account(pki, emulator, tmp_path):
    cert, key = leaf(pki, tmp_path)
    results = run_checks(
        SignerOptions(certificate=str(cert), private_key=str(key)),
        session_for(emulator, role_arn="arn:aws:iam::210987654321:role/elsewhere"),
        network=False,
    )
    check = failing(results, "arns")
    assert "role 210987654321" in check.detail and "role chain" in check.fix


def test_endpoint_refusing_connections(pki, emulator, tmp_path):
    import socket

    cert, key = leaf(pki, tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results = run_checks(
        SignerOptions(certificate=str(cert), private_key=str(key)),
        session_for(emulator, endpoint=f"https://127.0.0.1:{port}"),
    )
    assert "firewall" in failing(results, "tcp").fix


def test_tls_with_the_wrong_ca_bundle(pki, emulator, tmp_path):
    cert, key = leaf(pki, tmp_path)
    results = run_checks(
        SignerOptions(certificate=str(cert), private_key=str(key)), session_for(emulator, ca_bundle=str(pki.root_path))
    )
    assert "--ca-bundle" in failing(results, "tls").fix


def test_clock_skew_against_the_endpoint(pki, emulator, tmp_path):
    cert, key = leaf(pki, tmp_path)
    skewed = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=20)  # an injected local clock 20 min fast
    results = run_checks(SignerOptions(certificate=str(cert), private_key=str(key)), session_for(emulator), now=skewed)
    check = failing(results, "clock")
    import re

    assert 1190 <= int(re.search(r"off by \+(\d+) s", check.detail).group(1)) <= 1210
    assert "NTP" in check.fix


def test_proxy_in_use_is_reported(pki, emulator, tmp_path, monkeypatch):
    cert, key = leaf(pki, tmp_path)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    results = run_checks(SignerOptions(certificate=str(cert), private_key=str(key)), session_for(emulator))
    assert [c.status for c in results if c.name == "proxy"] == [WARN]
    assert failing(results, "tls").detail.startswith("HTTPS request failed")


def test_missing_pkcs11_module(emulator, tmp_path):
    pytest.importorskip("pkcs11")
    options = SignerOptions(
        certificate="pkcs11:token=none;object=x",
        private_key="pkcs11:token=none;object=x",
        pkcs11_lib=str(tmp_path / "no-such-module.so"),
    )
    results = run_checks(options, session_for(emulator), network=False)
    check = failing(results, "pkcs11 module")
    assert "no-such-module.so" in check.detail and "--pkcs11-lib" in check.fix


@pytest.mark.softhsm
def test_pkcs11_token_and_pin_source(hsm, emulator, tmp_path):  # noqa: F811 - fixture
    uri = "pkcs11:token=rasign-a;object=ec-p256"
    base = dict(certificate=uri, private_key=uri, pkcs11_lib=hsm.module)
    elsewhere = {**base, "certificate": "pkcs11:token=absent", "private_key": "pkcs11:token=absent"}
    absent = run_checks(SignerOptions(**elsewhere), session_for(emulator), network=False)
    assert "insert the token" in failing(absent, "pkcs11 token").fix
    missing_pin = run_checks(
        SignerOptions(**base, pkcs11_pin_file=str(tmp_path / "no-pin")), session_for(emulator), network=False
    )
    assert [c.status for c in missing_pin if c.name == "pkcs11 token"] == [PASS]
    assert "cannot read the PIN file" in failing(missing_pin, "pin").detail
    pin_file = tmp_path / "pin"
    pin_file.write_text(hsm.pin("rasign-a") + "\n")
    good = run_checks(SignerOptions(**base, pkcs11_pin_file=str(pin_file)), session_for(emulator), network=False)
    assert [c.status for c in good if c.name == "pin"] == [PASS]


def test_live_failure_is_explained_and_json(pki, emulator, tmp_path):
    cert, key = leaf(pki, tmp_path)
    args = emulator_args(emulator)
    args[args.index("--role-arn") + 1] = "arn:aws:iam::123456789012:role/not-in-profile"
    result = run_rasign("doctor", "--json", "--live", "--certificate", str(cert), "--private-key", str(key), *args)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    live = next(check for check in report["checks"] if check["name"] == "live")
    assert live["status"] == "fail" and "AccessDenied" in live["detail"] and live["fix"]


def test_x509_v1_certificate_made_by_openssl(emulator, tmp_path):
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.fail("openssl is part of the test environment (scripts/bootstrap.sh)")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True, timeout=60)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=v1 ca",
        "-days",
        "2",
    )
    openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=v1 leaf",
    )
    # Without an extensions file, `openssl x509 -req` issues an X.509 v1 certificate.
    openssl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "7",
        "-days",
        "1",
        "-out",
        "leaf.pem",
    )
    options = SignerOptions(certificate=str(tmp_path / "leaf.pem"), private_key=str(tmp_path / "leaf.key"))
    check = failing(run_checks(options, session_for(emulator), network=False), "certificate")
    assert "X.509 v1" in check.detail and "v3" in check.fix


def test_tpm_simulator_or_device_missing(pki, emulator, tmp_path):
    import socket

    cert, _ = leaf(pki, tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = SignerOptions(
        certificate=str(cert), private_key="handle:0x81000001", tpm_tcti=f"swtpm:host=127.0.0.1,port={port}"
    )
    check = failing(run_checks(down, session_for(emulator), network=False), "tpm")
    assert "nothing answers" in check.detail and "simulator" in check.fix
    missing = SignerOptions(certificate=str(cert), private_key="handle:0x81000001", tpm_tcti="device:/dev/no-such-tpm")
    assert "does not exist" in failing(run_checks(missing, session_for(emulator), network=False), "tpm").detail


@pytest.mark.swtpm
def test_tpm_reachable_with_swtpm(pki, emulator, tmp_path, tpm):  # noqa: F811 - fixture
    cert, _ = leaf(pki, tmp_path)
    options = SignerOptions(certificate=str(cert), private_key="handle:0x81000001", tpm_tcti=tpm.tcti)
    results = run_checks(options, session_for(emulator), network=False)
    assert [c.status for c in results if c.name == "tpm"] == [PASS]
    assert [c.status for c in results if c.name == "key"] == [WARN]


def test_tpm_tcti_comes_from_the_flag_then_the_variables_in_order(monkeypatch, tmp_path):
    from rasign.doctor import TPM_TCTI_VARIABLES, check_tpm

    for name in TPM_TCTI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TPM2TOOLS_TCTI", "tabrmd:bus_type=session")
    monkeypatch.setenv("TCTI", "device:/dev/later-in-the-order")
    [check] = check_tpm(SignerOptions(private_key="handle:0x81000001"))
    assert check.status == WARN and "'tabrmd:bus_type=session'" in check.detail and "--live" in check.fix
    monkeypatch.setenv("RASIGN_TPM_TCTI", str(tmp_path / "tpm0"))  # a bare path is a device
    [check] = check_tpm(SignerOptions(private_key="handle:0x81000001"))
    assert check.status == FAIL and f"{tmp_path / 'tpm0'} does not exist" in check.detail
    device = tmp_path / "tpmrm0"
    device.write_bytes(b"")
    [check] = check_tpm(SignerOptions(private_key="handle:0x81000001", tpm_tcti=f"device:{device}"))
    assert check.status == PASS and f"{device} can be opened" in check.detail


def test_pkcs11_module_from_the_uri_then_p11kit_proxy(monkeypatch, tmp_path):
    pytest.importorskip("pkcs11")
    from rasign import doctor
    from rasign.backends.pkcs11 import module

    uri = f"pkcs11:token=t;object=k?module-path={tmp_path / 'vendor.so'}"
    checks = list(doctor.check_pkcs11(SignerOptions(certificate=uri, private_key=uri)))
    assert [c.status for c in checks] == [FAIL]
    assert f"{tmp_path / 'vendor.so'}: no such file" in checks[0].detail and "--pkcs11-lib" in checks[0].fix
    # No module named anywhere: the backend's own p11-kit-proxy search, and nothing else.
    monkeypatch.setattr(module, "P11_KIT_PROXY_NAMES", ())
    monkeypatch.setattr(module, "P11_KIT_PROXY_PATHS", (str(tmp_path / "p11-kit-proxy.so"),))
    bare = "pkcs11:token=t;object=k"
    checks = list(doctor.check_pkcs11(SignerOptions(certificate=bare, private_key=bare)))
    assert [c.status for c in checks] == [FAIL] and "p11-kit-proxy was tried" in checks[0].detail
    assert f"{tmp_path / 'p11-kit-proxy.so'}: no such file" in checks[0].detail and "--pkcs11-lib" in checks[0].fix


def test_store_identity_key_is_checked_only_live(emulator):
    options = SignerOptions(cert_selector='Key=x509Subject,Value="CN=doc"')
    results = run_checks(options, session_for(emulator), network=False)
    assert [(c.status, c.detail) for c in results if c.name == "key"] == [
        (WARN, "certificate store identity: checked only with --live")
    ]
    assert not [c for c in results if c.name == "certificate"]


def test_pinentry_setting_is_checked_only_when_set(pki, emulator, tmp_path, monkeypatch):
    """A broken RASIGN_PINENTRY shows only when a PIN is due; doctor surfaces it before that day."""
    cert, key = leaf(pki, tmp_path, stem="pinentry")
    signer = SignerOptions(certificate=str(cert), private_key=str(key))
    monkeypatch.delenv("RASIGN_PINENTRY", raising=False)
    assert not [c for c in run_checks(signer, session_for(emulator), network=False) if c.name == "pinentry"]
    monkeypatch.setenv("RASIGN_PINENTRY", str(tmp_path / "no-such-pinentry"))
    broken = failing(run_checks(signer, session_for(emulator), network=False), "pinentry")
    assert "RASIGN_PINENTRY" in broken.detail and "does not exist" in broken.detail
    monkeypatch.setenv("RASIGN_PINENTRY", "pinentry-tty")
    (fine,) = [c for c in run_checks(signer, session_for(emulator), network=False) if c.name == "pinentry"]
    assert fine.status == PASS and fine.detail.endswith("/pinentry-tty")
