"""The emulator's throw-away TLS identity.

Clients must verify TLS against the emulator exactly as they would against AWS (no
``--no-verify-ssl`` shortcut in tests), so the emulator makes a tiny private CA and a
server certificate for ``127.0.0.1``/``localhost`` signed by it. Clients get the CA
certificate as their CA bundle. A separate CA (rather than one self-signed server
certificate) keeps strict verifiers happy: the bundle holds a real CA, the server
certificate is a proper end-entity certificate with SAN and serverAuth.

Nothing here is persisted beyond the directory the caller gives; a new emulator gets new
keys.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509 as _x509


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files one emulator instance serves with."""

    ca_bundle: str
    certificate: str
    private_key: str


def make_tls_files(directory: str, host: str = "127.0.0.1") -> TlsFiles:
    """Create a CA and a server certificate for ``host`` in ``directory`` and return the paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.timezone.utc)
    start, end = now - _dt.timedelta(hours=1), now + _dt.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rasign emulator TLS CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    if host != "127.0.0.1":
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    os.makedirs(directory, exist_ok=True)
    files = TlsFiles(
        ca_bundle=os.path.join(directory, "emulator-ca.pem"),
        certificate=os.path.join(directory, "emulator-server.pem"),
        private_key=os.path.join(directory, "emulator-server.key"),
    )
    _write(files.ca_bundle, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(files.certificate, server_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(
        files.private_key,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    return files


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 minimum, as AWS requires of its clients."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.certificate, files.private_key)
    return context


def _key_usage(*, cert_sign: bool) -> _x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: str, data: bytes, mode: int) -> None:
    """Through :mod:`rasign.fsafe`: a link planted in a shared ``--state-dir`` is replaced, not followed."""
    from rasign import fsafe

    fsafe.write_atomic(
        path, data, "emulator TLS file", mode=mode, keep_mode=False, secret=mode == 0o600, follow_final=False
    )
