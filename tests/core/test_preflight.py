"""Certificate preflight: refuse locally what Roles Anywhere would refuse with an opaque 403."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from rasign.certs import normalise_chain, preflight
from rasign.errors import CertificateError
from tests.support.pki import NOW, make_ca, name


def build(*, key_usage: x509.KeyUsage | None, ca: bool = False, days: int = 30, start: dt.datetime | None = None):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("leaf"))
        .issuer_name(name("leaf"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start or NOW - dt.timedelta(hours=1))
        .not_valid_after((start or NOW) + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    return builder.sign(key, hashes.SHA256())


def usage(digital_signature: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=not digital_signature,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def test_good_certificate_passes():
    assert preflight(build(key_usage=usage(True))) == []


def test_expiry_warning_within_seven_days():
    warnings = preflight(build(key_usage=usage(True), days=3))
    assert len(warnings) == 1 and "expires in" in warnings[0]


@pytest.mark.parametrize(
    "cert, needle",
    [
        (lambda: build(key_usage=None), "no KeyUsage"),
        (lambda: build(key_usage=usage(False)), "digitalSignature"),
        (lambda: build(key_usage=usage(True), ca=True), "CA certificate"),
        (lambda: build(key_usage=usage(True), start=NOW + dt.timedelta(days=2)), "not valid until"),
        (lambda: build(key_usage=usage(True), start=NOW - dt.timedelta(days=60), days=30), "expired"),
    ],
)
def test_refusals(cert, needle):
    with pytest.raises(CertificateError, match=needle):
        preflight(cert())


def test_chain_normalisation():
    root = make_ca("root")
    inter = [make_ca(f"inter {i}", root) for i in range(6)]
    leaf = build(key_usage=usage(True))
    assert normalise_chain(leaf, [inter[0].cert, inter[0].cert, leaf]) == [inter[0].cert]
    with pytest.raises(CertificateError, match="at most 5"):
        normalise_chain(leaf, [a.cert for a in inter])
