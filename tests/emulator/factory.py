"""Certificates for emulator tests, built with cryptography at test time.

Each knob maps to one rule the emulator must enforce (validity, v1, CA flag, key usage,
issuer hash, path length), so a rejection test changes exactly one thing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)


def new_key(kind: str = "p256") -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind.startswith("mldsa"):
        from cryptography.hazmat.primitives.asymmetric import mldsa

        return getattr(
            mldsa,
            {"mldsa44": "MLDSA44PrivateKey", "mldsa65": "MLDSA65PrivateKey", "mldsa87": "MLDSA87PrivateKey"}[kind],
        ).generate()
    return ec.generate_private_key(ec.SECP256R1())


def usage(*, signature: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=False,
        key_encipherment=not signature and not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(builder: x509.CertificateBuilder, key: Any, hash_algorithm: Any) -> x509.Certificate:
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return builder.sign(key, hash_algorithm)
    return builder.sign(key, None)


@dataclass
class Ca:
    cert: x509.Certificate
    key: Any

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def make_ca(
    cn: str = "emulator test root",
    issuer: Ca | None = None,
    *,
    key_kind: str = "p256",
    path_length: int | None = None,
    ca: bool = True,
    cert_sign: bool = True,
    not_after: dt.datetime | None = None,
) -> Ca:
    key = new_key(key_kind)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(usage(signature=False, cert_sign=cert_sign), critical=True)
    )
    return Ca(cert=_sign(builder, issuer.key if issuer else key, hashes.SHA256()), key=key)


def make_leaf(
    issuer: Ca,
    key: Any,
    *,
    cn: str | None = "emulator test client",
    serial: int | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    digital_signature: bool = True,
    key_usage: bool = True,
    ca: bool = False,
    hash_algorithm: Any = None,
    subject: x509.Name | None = None,
) -> x509.Certificate:
    if subject is None:
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rasign emulator tests")]
        if cn is not None:
            attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        subject = x509.Name(attributes)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(hours=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    if key_usage:
        builder = builder.add_extension(usage(signature=digital_signature, cert_sign=ca), critical=True)
    return _sign(builder, issuer.key, hash_algorithm or hashes.SHA256())


def v1_certificate(issuer: Ca, key: Any) -> x509.Certificate:
    """An X.509 v1 certificate: cryptography only writes v3, so patch the DER.

    The TBSCertificate's explicit ``[0] INTEGER 2`` version field is dropped and the
    result re-signed by ``issuer``, so the signature stays valid and only the version
    differs.
    """
    template = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "v1 client")]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=7))
        .sign(issuer.key, hashes.SHA256())
    )
    tbs = template.tbs_certificate_bytes
    _, body = _der_split(tbs)
    version_field = bytes.fromhex("a003020102")
    assert body.startswith(version_field)
    new_body = body[len(version_field) :]
    new_tbs = b"\x30" + _der_len(len(new_body)) + new_body
    signature = issuer.key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))
    algorithm = _der_split(template.public_bytes(serialization.Encoding.DER))[1][len(tbs) :]
    sig_alg_len = _tlv_length(algorithm)
    sig_alg = algorithm[:sig_alg_len]
    bitstring = b"\x03" + _der_len(len(signature) + 1) + b"\x00" + signature
    content = new_tbs + sig_alg + bitstring
    return x509.load_der_x509_certificate(b"\x30" + _der_len(len(content)) + content)


def _der_len(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _der_split(data: bytes) -> tuple[int, bytes]:
    """(header length, contents) of the outer TLV."""
    first = data[1]
    if first < 0x80:
        return 2, data[2 : 2 + first]
    count = first & 0x7F
    length = int.from_bytes(data[2 : 2 + count], "big")
    return 2 + count, data[2 + count : 2 + count + length]


def _tlv_length(data: bytes) -> int:
    header, contents = _der_split(data)
    return header + len(contents)


def sha1_leaf(issuer: Ca, key: Any, directory: Any) -> x509.Certificate:
    """A leaf whose issuer signature uses SHA-1, made with the openssl CLI.

    cryptography refuses to create SHA-1 signatures, but such certificates exist in the
    wild and Roles Anywhere must reject them, so an independent tool makes one.
    """
    import subprocess
    from pathlib import Path

    folder = Path(directory)
    pem = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    pkcs8 = serialization.PrivateFormat.PKCS8
    (folder / "sha1-ca.pem").write_bytes(issuer.pem)
    (folder / "sha1-ca.key").write_bytes(issuer.key.private_bytes(pem, pkcs8, none))
    (folder / "sha1-leaf.key").write_bytes(key.private_bytes(pem, pkcs8, none))
    (folder / "sha1-ext").write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n")
    csr = subprocess.run(
        ["openssl", "req", "-new", "-key", str(folder / "sha1-leaf.key"), "-subj", "/CN=sha1 client"],
        check=True,
        capture_output=True,
    ).stdout
    out = subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-CA",
            str(folder / "sha1-ca.pem"),
            "-CAkey",
            str(folder / "sha1-ca.key"),
            "-sha1",
            "-days",
            "2",
            "-extfile",
            str(folder / "sha1-ext"),
        ],
        input=csr,
        check=True,
        capture_output=True,
    ).stdout
    return x509.load_pem_x509_certificate(out)
