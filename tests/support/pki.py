"""A throw-away PKI for tests: root CA, intermediates, and leaves for any public key.

Built with cryptography so hardware backends (SoftHSM, swtpm) can get certificates for
keys that never leave them: pass the token's public key to :meth:`Pki.issue`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.timezone.utc)


def name(cn: str, org: str = "rasign tests") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def new_key(kind: str = "ec"):
    """A software key: 'ec' (P-256), 'p384', 'rsa' (2048)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Authority:
    """A CA certificate and its key."""

    cert: x509.Certificate
    key: object

    @property
    def pem(self) -> bytes:
        return cert_pem(self.cert)


def _sign_cert(builder: x509.CertificateBuilder, issuer_key) -> x509.Certificate:
    algorithm = hashes.SHA256()
    return builder.sign(issuer_key, algorithm)


def make_ca(cn: str, issuer: Authority | None = None, *, key_kind: str = "ec", days: int = 3650) -> Authority:
    key = new_key(key_kind)
    subject = name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return Authority(cert=_sign_cert(builder, issuer.key if issuer else key), key=key)


@dataclass
class Pki:
    """Root CA plus helpers to issue leaves; files go under ``directory``."""

    directory: Path
    root: Authority = field(default_factory=lambda: make_ca("rasign test root"))

    @property
    def root_pem(self) -> bytes:
        return self.root.pem

    @property
    def root_path(self) -> Path:
        path = self.directory / "root-ca.pem"
        if not path.exists():
            path.write_bytes(self.root_pem)
        return path

    def intermediate(self, cn: str = "rasign test intermediate", issuer: Authority | None = None) -> Authority:
        return make_ca(cn, issuer or self.root)

    def issue(
        self,
        public_key,
        path: str | Path | None = None,
        *,
        cn: str = "rasign test client",
        issuer: Authority | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        digital_signature: bool = True,
        serial: int | None = None,
        chain: list[Authority] | None = None,
    ) -> x509.Certificate:
        """Issue a v3 client certificate for ``public_key``; write leaf (+ chain) PEM to ``path``."""
        issuer = issuer or self.root
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(issuer.cert.subject)
            .public_key(public_key)
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(not_before or NOW - dt.timedelta(hours=1))
            .not_valid_after(not_after or NOW + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=digital_signature,
                    content_commitment=False,
                    key_encipherment=not digital_signature,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        cert = _sign_cert(builder, issuer.key)
        if path is not None:
            Path(path).write_bytes(cert_pem(cert) + b"".join(a.pem for a in chain or []))
        return cert

    def encrypted_identity(self, password: str, stem: str = "encrypted", **kwargs) -> tuple[Path, Path]:
        """An EC identity whose key file is encrypted PKCS#8 under ``password``: (cert_path, key_path)."""
        from cryptography.hazmat.primitives import serialization

        key = new_key("ec")
        key_path = self.directory / f"{stem}-key.pem"
        cert_path = self.directory / f"{stem}-cert.pem"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(password.encode()),
            )
        )
        self.issue(key.public_key(), cert_path, **kwargs)
        return cert_path, key_path

    def software_identity(self, kind: str = "ec", stem: str = "client", **kwargs) -> tuple[Path, Path]:
        """A software key + certificate pair on disk: (cert_path, key_path)."""
        key = new_key(kind)
        key_path = self.directory / f"{stem}-key.pem"
        cert_path = self.directory / f"{stem}-cert.pem"
        key_path.write_bytes(key_pem(key))
        self.issue(key.public_key(), cert_path, **kwargs)
        return cert_path, key_path
