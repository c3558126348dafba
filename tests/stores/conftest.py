"""Fixtures for the certificate-store tests: certificates with chosen names and dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

NOW = dt.datetime.now(dt.timezone.utc)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "stores: certificate store and --cert-selector tests (issue 6)")


def make_key(kind: str = "ec"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def make_cert(
    subject: x509.Name | str,
    key=None,
    *,
    issuer: x509.Name | str | None = None,
    issuer_key=None,
    serial: int = 0x1000,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 30,
) -> tuple[x509.Certificate, object]:
    """A v3 client certificate (self-issued unless ``issuer``/``issuer_key`` are given)."""
    key = key or make_key()
    subject = x509.Name.from_rfc4514_string(subject) if isinstance(subject, str) else subject
    issuer_name = x509.Name.from_rfc4514_string(issuer) if isinstance(issuer, str) else (issuer or subject)
    start = not_before or NOW - dt.timedelta(hours=1)
    end = not_after or start + dt.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(issuer_key or key, hashes.SHA256())
    )
    return cert, key


def pem(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    path = tmp_path / "identities"
    path.mkdir()
    return path
