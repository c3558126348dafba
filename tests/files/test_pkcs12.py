"""PKCS#12 bundles made by ``openssl pkcs12 -export``: legacy and AES, with and without password."""

from __future__ import annotations

import pytest
from cryptography import x509

from rasign.backends.file import PKCS12_WITH_INTERMEDIATES
from rasign.errors import EXIT_CODES, AuthenticationError, KeyLoadError, UsageError
from tests.files.conftest import PASSWORD
from tests.files.helpers import assert_signs_for_certificate, open_file_signer, openssl

pytestmark = pytest.mark.openssl

VARIANTS = {
    "aes-password": ("-passout", f"pass:{PASSWORD}"),
    "legacy-password": ("-legacy", "-passout", f"pass:{PASSWORD}"),
    "3des-sha1-password": (
        "-keypbe",
        "PBE-SHA1-3DES",
        "-certpbe",
        "PBE-SHA1-3DES",
        "-macalg",
        "sha1",
        "-passout",
        f"pass:{PASSWORD}",
    ),
    "aes-empty": ("-passout", "pass:"),
    "legacy-empty": ("-legacy", "-passout", "pass:"),
    "unencrypted-nomac": ("-keypbe", "NONE", "-certpbe", "NONE", "-nomac", "-passout", "pass:"),
}


def make_p12(base, openssl_ca, directory, variant: str):
    out = directory / f"{base.name}-{variant}.p12"
    if not out.exists():
        # The CA certificates come first in -certfile, so "leaf = first certificate" would be wrong.
        chain = directory / "p12-chain.pem"
        chain.write_bytes(openssl_ca.root_cert.read_bytes() + openssl_ca.inter_cert.read_bytes())
        openssl(
            "pkcs12",
            "-export",
            "-inkey",
            base.key,
            "-in",
            base.cert,
            "-certfile",
            chain,
            *VARIANTS[variant],
            "-out",
            out,
        )
    return out


def _expected(openssl_ca):
    root = x509.load_pem_x509_certificate(openssl_ca.root_cert.read_bytes())
    inter = x509.load_pem_x509_certificate(openssl_ca.inter_cert.read_bytes())
    return {root, inter}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("as_flag", ["certificate", "private_key"])
def test_pkcs12_variants(base_keys, openssl_ca, tmp_path_factory, variant, as_flag):
    base = base_keys["p256"]
    p12 = make_p12(base, openssl_ca, base.directory, variant)
    password = PASSWORD if variant.endswith("-password") else None
    with open_file_signer(**{as_flag: str(p12)}, pkcs8_password=password) as signer:
        assert signer.certificate == x509.load_pem_x509_certificate(base.cert.read_bytes())
        # Leaf excluded from the chain (the Go helper sends it twice).
        assert set(signer.chain) == _expected(openssl_ca)
        assert signer.certificate not in signer.chain
        assert "PKCS#12" in signer.describe()
        assert_signs_for_certificate(signer, ("SHA256",))


@pytest.mark.parametrize("name", ["rsa2048", "p384"])
def test_pkcs12_with_other_key_types(base_keys, openssl_ca, name):
    base = base_keys[name]
    p12 = make_p12(base, openssl_ca, base.directory, "aes-password")
    with open_file_signer(certificate=str(p12), pkcs8_password=PASSWORD) as signer:
        assert_signs_for_certificate(signer)


@pytest.mark.parametrize("variant", ["aes-empty", "legacy-empty", "unencrypted-nomac"])
def test_password_given_for_an_unprotected_pkcs12_is_a_warning(base_keys, openssl_ca, variant, caplog):
    """RASIGN_PKCS8_PASSWORD set for another file must not break a password-less bundle."""
    base = base_keys["p256"]
    p12 = make_p12(base, openssl_ca, base.directory, variant)
    with (
        caplog.at_level("WARNING", logger="rasign"),
        open_file_signer(certificate=str(p12), pkcs8_password="unused-pw") as signer,
    ):
        assert_signs_for_certificate(signer, ("SHA256",))
    assert "not protected" in caplog.text
    assert "unused-pw" not in caplog.text


def test_pkcs12_same_file_as_both_flags(base_keys, openssl_ca):
    base = base_keys["p256"]
    p12 = make_p12(base, openssl_ca, base.directory, "aes-empty")
    with open_file_signer(certificate=str(p12), private_key=str(p12)) as signer:
        assert_signs_for_certificate(signer, ("SHA256",))


def test_pkcs12_key_with_separate_pem_certificate(base_keys, openssl_ca):
    base = base_keys["p256"]
    p12 = make_p12(base, openssl_ca, base.directory, "aes-empty")
    with open_file_signer(certificate=str(base.cert), private_key=str(p12)) as signer:
        assert signer.chain == []
        assert_signs_for_certificate(signer, ("SHA256",))


def test_pkcs12_certificate_with_separate_key_is_a_usage_error(base_keys, openssl_ca):
    base = base_keys["p256"]
    p12 = make_p12(base, openssl_ca, base.directory, "aes-empty")
    with pytest.raises(UsageError, match="brings its own private key"):
        open_file_signer(certificate=str(p12), private_key=str(base.key))


def test_pkcs12_with_intermediates_gives_the_go_error(base_keys, openssl_ca):
    base = base_keys["p256"]
    p12 = make_p12(base, openssl_ca, base.directory, "aes-empty")
    with pytest.raises(UsageError) as caught:
        open_file_signer(certificate=str(p12), intermediates=str(openssl_ca.inter_cert))
    assert caught.value.message == PKCS12_WITH_INTERMEDIATES


@pytest.mark.parametrize("variant", ["aes-password", "legacy-password"])
def test_pkcs12_wrong_password(base_keys, openssl_ca, variant):
    base = base_keys["p256"]
    p12 = make_p12(base, openssl_ca, base.directory, variant)
    with pytest.raises(AuthenticationError, match="incorrect PKCS#12 password") as caught:
        open_file_signer(certificate=str(p12), pkcs8_password="wrong")
    assert caught.value.exit_code == EXIT_CODES["AuthenticationError"]


def test_pkcs12_missing_password_without_prompting(base_keys, openssl_ca, monkeypatch):
    monkeypatch.delenv("RASIGN_PKCS8_PASSWORD", raising=False)
    base = base_keys["p256"]
    p12 = make_p12(base, openssl_ca, base.directory, "aes-password")
    with pytest.raises(AuthenticationError, match="is encrypted and no password was given"):
        open_file_signer(certificate=str(p12))


def test_pkcs12_without_key_is_refused(base_keys, tmp_path):
    base = base_keys["p256"]
    p12 = tmp_path / "nokey.p12"
    openssl("pkcs12", "-export", "-nokeys", "-in", base.cert, "-passout", "pass:", "-out", p12)
    with pytest.raises(KeyLoadError, match="holds no private key"):
        open_file_signer(certificate=str(p12))


def test_pkcs12_whose_certificates_do_not_match_the_key(base_keys, tmp_path):
    p12 = tmp_path / "mismatch.p12"
    # -nocerts keeps the key only; -certfile adds an unrelated certificate.
    openssl(
        "pkcs12",
        "-export",
        "-inkey",
        base_keys["p256"].key,
        "-nocerts",
        "-certfile",
        base_keys["p384"].cert,
        "-passout",
        "pass:",
        "-out",
        p12,
    )
    with pytest.raises(KeyLoadError, match="matches its private key"):
        open_file_signer(certificate=str(p12))


def test_list_identities_for_pkcs12(base_keys, openssl_ca):
    from rasign.backends.file import FileBackend
    from rasign.options import SignerOptions

    base = base_keys["p256"]
    p12 = make_p12(base, openssl_ca, base.directory, "aes-password")
    [identity] = FileBackend.list_identities(
        SignerOptions(certificate=str(p12), pkcs8_password=PASSWORD, interactive=False)
    )
    assert identity.certificate == x509.load_pem_x509_certificate(base.cert.read_bytes())
    assert identity.where == f"file {p12}"


def test_two_different_pkcs12_files_is_a_usage_error(base_keys, openssl_ca):
    first = make_p12(base_keys["p256"], openssl_ca, base_keys["p256"].directory, "aes-empty")
    second = make_p12(base_keys["p384"], openssl_ca, base_keys["p384"].directory, "aes-empty")
    with pytest.raises(UsageError, match="brings its own private key"):
        open_file_signer(certificate=str(first), private_key=str(second))
