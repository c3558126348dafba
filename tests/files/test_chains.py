"""Certificates around the key: full-chain PEM, --intermediates bundles, combined files."""

from __future__ import annotations

import pytest
from cryptography import x509

from rasign.errors import CertificateError, KeyLoadError, UsageError
from tests.files.helpers import assert_signs_for_certificate, open_file_signer

pytestmark = pytest.mark.openssl


def _load(path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_full_chain_pem_gives_leaf_and_intermediates(base_keys, openssl_ca, tmp_path):
    base = base_keys["p256"]
    full = openssl_ca.full_chain(base.cert, tmp_path / "fullchain.pem")
    with open_file_signer(certificate=str(full), private_key=str(base.key)) as signer:
        leaf, inter, root = _load(full)
        assert signer.certificate == leaf
        assert signer.chain == [inter, root]
        assert_signs_for_certificate(signer, ("SHA256",))


def test_intermediates_bundle_with_comments(base_keys, openssl_ca, tmp_path):
    base = base_keys["rsa2048"]
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        b"# intermediate\n" + openssl_ca.inter_cert.read_bytes() + b"\nsome text\n" + openssl_ca.root_cert.read_bytes()
    )
    with open_file_signer(certificate=str(base.cert), private_key=str(base.key), intermediates=str(bundle)) as signer:
        assert signer.chain == _load(openssl_ca.inter_cert) + _load(openssl_ca.root_cert)


def test_chain_never_repeats_the_leaf(base_keys, openssl_ca, tmp_path):
    base = base_keys["p384"]
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(base.cert.read_bytes() + openssl_ca.inter_cert.read_bytes() + openssl_ca.inter_cert.read_bytes())
    with open_file_signer(certificate=str(base.cert), private_key=str(base.key), intermediates=str(bundle)) as signer:
        assert signer.chain == _load(openssl_ca.inter_cert)


def test_intermediates_bundle_with_a_key_block_is_refused(base_keys, tmp_path):
    base = base_keys["p256"]
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(base.cert.read_bytes() + base.key.read_bytes())
    with pytest.raises(KeyLoadError, match="invalid certificate chain"):
        open_file_signer(certificate=str(base.cert), private_key=str(base.key), intermediates=str(bundle))


def test_more_than_five_intermediates_is_refused(base_keys, openssl_ca, tmp_path):
    from tests.support.pki import make_ca

    base = base_keys["p256"]
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"".join(make_ca(f"ca {i}").pem for i in range(6)))
    with pytest.raises(CertificateError, match="at most 5"):
        open_file_signer(certificate=str(base.cert), private_key=str(base.key), intermediates=str(bundle))


@pytest.mark.parametrize("order", ["key-first", "cert-first"])
def test_combined_key_and_certificate_file(base_keys, openssl_ca, tmp_path, order):
    base = base_keys["p521"]
    parts = [base.key.read_bytes(), base.cert.read_bytes() + openssl_ca.inter_cert.read_bytes()]
    combo = tmp_path / "combo.pem"
    combo.write_bytes(b"".join(parts if order == "key-first" else parts[::-1]))
    # As --private-key alone, as --certificate alone (the Go helper's keyRef rule), and as both.
    for options in (
        {"private_key": str(combo)},
        {"certificate": str(combo)},
        {"certificate": str(combo), "private_key": str(combo)},
    ):
        with open_file_signer(**options) as signer:
            assert signer.certificate == _load(base.cert)[0]
            assert signer.chain == _load(openssl_ca.inter_cert)
            assert_signs_for_certificate(signer, ("SHA256",))


def test_ec_parameters_block_before_the_key_is_ignored(openssl_ca, tmp_path):
    """``openssl ecparam -genkey`` writes an EC PARAMETERS block first."""
    from tests.files.helpers import openssl

    key = tmp_path / "ecparam.pem"
    key.write_bytes(openssl("ecparam", "-name", "prime256v1", "-genkey"))
    assert key.read_bytes().startswith(b"-----BEGIN EC PARAMETERS-----")
    cert = openssl_ca.issue(key, tmp_path / "cert.pem")
    with open_file_signer(certificate=str(cert), private_key=str(key)) as signer:
        assert_signs_for_certificate(signer, ("SHA256",))


def test_certificate_only_without_any_key_is_a_usage_error(base_keys):
    with pytest.raises(UsageError, match="no private key given"):
        open_file_signer(certificate=str(base_keys["p256"].cert))


def test_intermediates_without_certificate_is_a_usage_error(base_keys, openssl_ca):
    with pytest.raises(UsageError, match="needs a certificate"):
        open_file_signer(private_key=str(base_keys["p256"].key), intermediates=str(openssl_ca.inter_cert))


def test_list_identities_names_the_file(base_keys):
    from rasign.backends.file import FileBackend
    from rasign.options import SignerOptions

    base = base_keys["rsa2048"]
    [identity] = FileBackend.list_identities(SignerOptions(certificate=str(base.cert)))
    assert identity.where == f"file {base.cert}"
    assert identity.certificate == _load(base.cert)[0]
    assert identity.has_private_key is False
    [identity] = FileBackend.list_identities(SignerOptions(certificate=str(base.cert), private_key=str(base.key)))
    assert identity.has_private_key is True


def test_pem_exported_from_pkcs12_with_bag_attributes(base_keys, openssl_ca, tmp_path):
    """``openssl pkcs12 -nodes`` output: "Bag Attributes" text around the key and certificates."""
    from tests.files.helpers import openssl

    base = base_keys["rsa2048"]
    p12 = tmp_path / "id.p12"
    openssl(
        "pkcs12",
        "-export",
        "-inkey",
        base.key,
        "-in",
        base.cert,
        "-certfile",
        openssl_ca.inter_cert,
        "-passout",
        "pass:x",
        "-out",
        p12,
    )
    combo = tmp_path / "combo.pem"
    openssl("pkcs12", "-in", p12, "-nodes", "-passin", "pass:x", "-out", combo)
    assert b"Bag Attributes" in combo.read_bytes()
    with open_file_signer(private_key=str(combo)) as signer:
        assert signer.certificate == _load(base.cert)[0]
        assert signer.chain == _load(openssl_ca.inter_cert)
        assert_signs_for_certificate(signer, ("SHA256",))


@pytest.mark.parametrize("kind", ["plain", "encrypted", "legacy"])
def test_crlf_line_endings(base_keys, tmp_path, kind):
    """Files edited or copied on Windows keep working."""
    from tests.files.helpers import openssl

    base = base_keys["p256"]
    source = {
        "plain": lambda: base.key.read_bytes(),
        "encrypted": lambda: openssl("pkcs8", "-topk8", "-in", base.key, "-v2", "aes-256-cbc", "-passout", "pass:pw"),
        "legacy": lambda: openssl("ec", "-in", base.key, "-aes256", "-passout", "pass:pw"),
    }[kind]()
    key, cert = tmp_path / "crlf-key.pem", tmp_path / "crlf-cert.pem"
    key.write_bytes(source.replace(b"\n", b"\r\n"))
    cert.write_bytes(base.cert.read_bytes().replace(b"\n", b"\r\n"))
    with open_file_signer(
        certificate=str(cert), private_key=str(key), pkcs8_password=None if kind == "plain" else "pw"
    ) as signer:
        assert_signs_for_certificate(signer, ("SHA256",))
