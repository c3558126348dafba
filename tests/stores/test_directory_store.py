"""``--cert-store DIR``: pairing files into identities, choosing, signing, and end to end.

The end-to-end tests run the real CLI (``python -m rasign``) against the local Roles
Anywhere emulator, which verifies the SigV4-X509 signature and records the serial of the
certificate that signed, so the tests see which identity the selector really chose.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from rasign.backends.store import StoreBackend, open_store
from rasign.backends.store.directory import DirectoryStore
from rasign.errors import BackendUnavailable, KeyLoadError
from rasign.options import SignerOptions
from rasign.signer import verify_signature
from rasign.x509names import subject_string
from tests.conftest import emulator_args, run_rasign
from tests.support.pki import NOW, key_pem, new_key

from .conftest import make_cert, pem


def options(directory: Path, selector: str | None = "", **kwargs) -> SignerOptions:
    return SignerOptions(cert_selector=selector, cert_store=str(directory), interactive=False, **kwargs)


def test_pairs_combined_named_and_matched_files(store_dir: Path) -> None:
    combined, combined_key = make_cert("CN=combined")
    (store_dir / "combined.pem").write_bytes(pem(combined_key) + pem(combined))
    named, named_key = make_cert("CN=named")
    (store_dir / "named.crt").write_bytes(pem(named))
    (store_dir / "named.key").write_bytes(pem(named_key))
    loose, loose_key = make_cert("CN=loose")
    (store_dir / "loose-certificate.pem").write_bytes(pem(loose))
    (store_dir / "some-key-file.pem").write_bytes(pem(loose_key))
    der, der_key = make_cert("CN=der")
    (store_dir / "der-cert.der").write_bytes(der.public_bytes(serialization.Encoding.DER))
    (store_dir / "der-key.pem").write_bytes(pem(der_key))
    ca_only, _ = make_cert("CN=just a CA file")
    (store_dir / "ca.pem").write_bytes(pem(ca_only))
    (store_dir / ".hidden.pem").write_bytes(pem(named))
    (store_dir / "notes.txt").write_text("not an identity")

    entries = DirectoryStore(str(store_dir), options(store_dir)).entries()
    by_subject = {subject_string(e.certificate): e for e in entries}
    assert set(by_subject) == {"CN=combined", "CN=named", "CN=loose", "CN=der", "CN=just a CA file"}
    assert not by_subject["CN=just a CA file"].has_private_key
    assert all(e.has_private_key for s, e in by_subject.items() if s != "CN=just a CA file")
    assert by_subject["CN=named"].handle.key.endswith("named.key")
    assert by_subject["CN=loose"].handle.key.endswith("some-key-file.pem")
    assert by_subject["CN=der"].handle.key.endswith("der-key.pem")


def test_opened_signer_uses_the_file_backend_and_signs(store_dir: Path) -> None:
    cert, key = make_cert("CN=signer", key=new_key("rsa"))
    (store_dir / "signer.pem").write_bytes(pem(cert))
    (store_dir / "signer.key").write_bytes(pem(key))
    with StoreBackend.open(options(store_dir, "Key=x509Subject,Value=CN=signer")) as signer:
        assert signer.certificate == cert
        assert signer.algorithm == "AWS4-X509-RSA-SHA256"
        for digest in ("SHA256", "SHA384", "SHA512"):
            assert verify_signature(cert.public_key(), signer.sign(b"m", digest), b"m", digest)


def test_chain_comes_from_the_identity_file(store_dir: Path) -> None:
    ca_key = new_key()
    ca, _ = make_cert("CN=Issuing CA", key=ca_key)
    leaf, leaf_key = make_cert("CN=leaf", issuer="CN=Issuing CA", issuer_key=ca_key)
    (store_dir / "leaf.pem").write_bytes(pem(leaf_key) + pem(leaf) + pem(ca))
    with StoreBackend.open(options(store_dir, "Key=x509Subject,Value=CN=leaf")) as signer:
        assert signer.certificate == leaf
        assert signer.chain == [ca]


def test_pkcs12_identities_with_and_without_password(store_dir: Path) -> None:
    plain, plain_key = make_cert("CN=p12 plain")
    (store_dir / "plain.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(b"plain", plain_key, plain, None, serialization.NoEncryption())
    )
    locked, locked_key = make_cert("CN=p12 locked")
    (store_dir / "locked.pfx").write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"locked", locked_key, locked, None, serialization.BestAvailableEncryption(b"s3cret")
        )
    )
    without = DirectoryStore(str(store_dir), options(store_dir))
    assert [subject_string(e.certificate) for e in without.entries()] == ["CN=p12 plain"]
    assert any("locked.pfx" in problem and "--pkcs8-password" in problem for problem in without.problems())
    # The skipped file is named when nothing matched.
    with pytest.raises(KeyLoadError) as caught:
        StoreBackend.open(options(store_dir, "Key=x509Subject,Value=CN=p12 locked"))
    assert "locked.pfx" in caught.value.one_line()
    with StoreBackend.open(
        options(store_dir, "Key=x509Subject,Value=CN=p12 locked", pkcs8_password="s3cret")
    ) as signer:
        assert signer.certificate == locked
        assert verify_signature(locked.public_key(), signer.sign(b"x"), b"x")


def test_encrypted_pem_key_pairs_by_name(store_dir: Path) -> None:
    cert, key = make_cert("CN=encrypted")
    (store_dir / "enc-cert.pem").write_bytes(pem(cert))
    (store_dir / "enc-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        )
    )
    with StoreBackend.open(options(store_dir, "Key=x509Subject,Value=CN=encrypted", pkcs8_password="pw")) as signer:
        assert verify_signature(cert.public_key(), signer.sign(b"x"), b"x")


def test_list_identities_gives_unique_selectors(store_dir: Path) -> None:
    for serial in (1, 2):
        cert, key = make_cert("CN=twin,O=Acme", serial=serial)
        (store_dir / f"twin{serial}.pem").write_bytes(pem(key) + pem(cert))
    identities = StoreBackend.list_identities(options(store_dir, "Key=x509SubjectContains,Value=twin"))
    assert len(identities) == 2
    for identity in identities:
        assert identity.where.startswith("file ")
        with StoreBackend.open(options(store_dir, identity.selector)) as signer:
            assert signer.certificate == identity.certificate


def test_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyLoadError, match="certificate store directory not found"):
        StoreBackend.open(options(tmp_path / "nope", "Key=x509Subject,Value=CN=a"))


def test_cert_store_file_and_tilde(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "one.pem").write_text("x")
    with pytest.raises(KeyLoadError, match="must be a directory"):
        StoreBackend.open(options(tmp_path / "one.pem", "Key=x509Subject,Value=CN=a"))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ids").mkdir()
    cert, key = make_cert("CN=home")
    (tmp_path / "ids" / "home.pem").write_bytes(pem(key) + pem(cert))
    with StoreBackend.open(SignerOptions(cert_selector="", cert_store="~/ids", interactive=False)) as signer:
        assert signer.certificate == cert


def test_linux_without_a_store_says_how_to_fix() -> None:
    with pytest.raises(BackendUnavailable) as caught:
        open_store(SignerOptions(cert_selector="Key=x509Subject,Value=CN=a"), platform="linux")
    assert caught.value.message == "unable to use cert store signer on linux"
    assert "--cert-store" in caught.value.one_line() and "--pkcs11-lib" in caught.value.one_line()


def test_store_routing_rules(tmp_path: Path) -> None:
    from rasign.backends.store.pkcs11_store import Pkcs11Store

    assert isinstance(open_store(SignerOptions(cert_store=str(tmp_path)), platform="linux"), DirectoryStore)
    assert isinstance(open_store(SignerOptions(cert_store="pkcs11:token=t"), platform="linux"), Pkcs11Store)
    assert isinstance(open_store(SignerOptions(cert_selector="", pkcs11_lib="/x.so"), platform="linux"), Pkcs11Store)


# ----------------------------------------------------------------------------- end to end


@pytest.fixture
def rotated_dir(store_dir: Path, pki) -> dict[str, int]:
    """Identities after rotations, all from the emulator's trusted root: serial per role."""
    serials = {}
    layout = [
        ("expired", NOW - dt.timedelta(days=400), NOW - dt.timedelta(days=35), 0x101),
        ("current", NOW - dt.timedelta(days=300), NOW + dt.timedelta(days=65), 0x102),
        ("renewed", NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=364), 0x103),
    ]
    for label, start, end, serial in layout:
        key = new_key()
        (store_dir / f"web-{label}.key").write_bytes(key_pem(key))
        pki.issue(
            key.public_key(),
            store_dir / f"web-{label}.pem",
            cn="web.example",
            not_before=start,
            not_after=end,
            serial=serial,
        )
        serials[label] = serial
    other = new_key("rsa")
    (store_dir / "db.pem").write_bytes(key_pem(other))
    with (store_dir / "db.pem").open("ab") as handle:
        handle.write(pem(pki.issue(other.public_key(), cn="db.example", serial=0x201)))
    serials["db"] = 0x201
    return serials


@pytest.mark.network
def test_credential_process_with_latest_expiring(emulator, store_dir: Path, rotated_dir) -> None:
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--cert-selector",
        "Key=x509Subject,Value=CN=web.example,O=rasign tests",
        "--cert-store",
        str(store_dir),
        "--reuse-latest-expiring-certificate",
        *emulator_args(emulator),
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["Version"] == 1 and output["AccessKeyId"]
    assert emulator.issued[-1].certificate_serial == rotated_dir["renewed"]


@pytest.mark.network
def test_credential_process_ambiguity_then_pasted_selector(emulator, store_dir: Path, rotated_dir) -> None:
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--cert-selector",
        "Key=x509SubjectContains,Value=web.example",
        "--cert-store",
        str(store_dir),
        *emulator_args(emulator),
    )
    assert result.returncode == 4, result.stderr
    assert result.stdout == ""
    assert "multiple matching identities" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    suggestion = [part.split("'")[0] for part in result.stderr.split("--cert-selector '")[1:]]
    assert len(suggestion) == 2
    chosen = [s for s in suggestion if "Serial,Value=102" in s]
    assert chosen, suggestion
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--cert-selector",
        chosen[0],
        "--cert-store",
        str(store_dir),
        *emulator_args(emulator),
    )
    assert result.returncode == 0, result.stderr
    assert emulator.issued[-1].certificate_serial == rotated_dir["current"]


@pytest.mark.network
def test_credential_process_with_json_selector_file_and_lenient_dn(
    emulator, store_dir: Path, rotated_dir, tmp_path: Path
) -> None:
    selector = tmp_path / "db.json"
    selector.write_text(json.dumps([{"Key": "x509Subject", "Value": "o=RASIGN TESTS, cn=db.example"}]))
    result = run_rasign(
        "credential-process",
        "--no-cache",
        "--cert-selector",
        f"file://{selector}",
        "--cert-store",
        str(store_dir),
        *emulator_args(emulator),
    )
    assert result.returncode == 0, result.stderr
    assert emulator.issued[-1].certificate_serial == rotated_dir["db"]


@pytest.mark.network
def test_bad_selector_is_a_usage_error_before_anything_else(emulator, store_dir: Path) -> None:
    result = run_rasign(
        "credential-process",
        "--cert-selector",
        "Key=x509Subject,Value=a Key=x509Subject,Value=b",
        "--cert-store",
        str(store_dir),
        *emulator_args(emulator),
    )
    assert result.returncode == 2
    assert "duplicate x509Subject keys can't be present in cert selector" in result.stderr


def test_read_certificate_data_lists_matches_with_selectors(store_dir: Path, rotated_dir) -> None:
    result = run_rasign(
        "read-certificate-data", "--cert-selector", "Key=x509SubjectContains,Value=web", "--cert-store", str(store_dir)
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("Matching identities\n")
    assert text.count("Subject: CN=web.example,O=rasign tests") == 3
    assert "Issuer: CN=rasign test root,O=rasign tests" in text
    assert "Serial Number: 101" in text and "Serial Number: 103" in text
    assert "Not After:" in text and "Location: file " in text and "Selector: Key=x509Subject" in text
    listed = run_rasign(
        "read-certificate-data",
        "--json",
        "--cert-selector",
        "Key=x509Serial,Value=0x0201",
        "--cert-store",
        str(store_dir),
    )
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [r["serialNumber"] for r in records] == ["201"]
    assert records[0]["selector"] == "Key=x509Subject,Value=CN=db.example,O=rasign tests"
