"""Certificates: reading them from files and checking them before any network call.

Every backend that takes a certificate from a file (file keys, hybrid PKCS#11, TPM) uses
these functions, so the same file gives the same leaf, chain and errors everywhere.

Rules (fixing the Go helper's gaps, see reference-helper.md section 13):
- ``--certificate`` may be PEM or DER. A PEM with several certificates is a full chain:
  the first is the leaf, the rest become the intermediates (the Go helper ignored them).
- ``--intermediates`` is a PEM bundle; non-certificate blocks are an error.
- The chain sent excludes the leaf, drops duplicates and certificates equal to the leaf,
  and must not exceed five certificates.
- Preflight: v3, KeyUsage digitalSignature, not a CA, inside its validity
  window; a warning on stderr when it expires within seven days.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import logging
import os
import re
import stat
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rasign.errors import CertificateError, KeyLoadError
from rasign.textsafe import clean

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger("rasign")

MAX_CHAIN = 5
"""Roles Anywhere rejects an ``X-Amz-X509-Chain`` deeper than this."""

EXPIRY_WARNING = _dt.timedelta(days=7)

_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n")
_PEM_END = re.compile(rb"-----END ([A-Z0-9 ]+)-----")


def pem_spans(data: bytes) -> Iterator[tuple[str, int, int, int, int]]:
    """Each PEM block as ``(label, start, body_start, body_end, stop)``, in file order.

    Same blocks as ``BEGIN (label) ... (.*?) ... END \\1`` found with a regular expression,
    in linear time: that expression rescans to the end of the file for every BEGIN without
    its END, so 1 MB of unterminated BEGIN lines took minutes. Here every END marker is
    indexed once and each BEGIN finds its END by bisection.
    """
    import bisect

    ends: dict[bytes, list[int]] = {}
    for match in _PEM_END.finditer(data):
        ends.setdefault(match.group(1), []).append(match.start())
    position = 0
    while True:
        begin = _PEM_BEGIN.search(data, position)
        if begin is None:
            return
        label = begin.group(1)
        candidates = ends.get(label, [])
        index = bisect.bisect_left(candidates, begin.end())
        if index == len(candidates):
            position = begin.end()
            continue
        end = candidates[index]
        stop = end + len(b"-----END -----") + len(label)
        yield label.decode("ascii"), begin.start(), begin.end(), end, stop
        position = stop


MAX_INPUT_BYTES = 16 << 20
"""Largest certificate/key/bundle file read: real ones are KB; more is a wrong path."""


def read_bytes(path: str, what: str) -> bytes:
    """Read a regular file, turning every failure into one clear :class:`KeyLoadError`.

    Opened non-blocking and checked with ``fstat`` before reading: a FIFO or a device named
    by mistake (or by someone else) must fail at once rather than hang or read forever.
    """
    shown = clean(path, 300)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as err:
        raise KeyLoadError(f"{what} file not found: {shown}", hint="check the path") from err
    except IsADirectoryError as err:
        raise KeyLoadError(f"{what} path is a directory, not a file: {shown}") from err
    except PermissionError as err:
        raise KeyLoadError(f"cannot read {what} file {shown}: permission denied") from err
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise KeyLoadError(f"cannot read {what} file {shown}: {clean(reason, 120)}") from err
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise KeyLoadError(f"{what} path is a directory, not a file: {shown}")
        if not stat.S_ISREG(info.st_mode):
            raise KeyLoadError(
                f"{what} path {shown} is not a regular file (a FIFO, socket or device)",
                hint="pass the path of the file itself",
            )
        if info.st_size > MAX_INPUT_BYTES:
            raise KeyLoadError(
                f"{what} file {shown} is {info.st_size} bytes; a {what} file is never over 16 MiB",
                hint="check the path",
            )
        with os.fdopen(fd, "rb") as handle:
            fd = -1
            return handle.read(MAX_INPUT_BYTES + 1)[:MAX_INPUT_BYTES]
    except OSError as err:
        raise KeyLoadError(f"cannot read {what} file {shown}: {clean(err.strerror or err, 120)}") from err
    finally:
        if fd >= 0:
            os.close(fd)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """All PEM blocks as ``(label, der)``; text between blocks is ignored.

    Blocks with headers (legacy ``Proc-Type: 4,ENCRYPTED``) are returned with the body
    undecoded-by-us: callers that need them use cryptography's loaders on the raw text.
    """
    blocks = []
    for label, _, body_start, body_end, _ in pem_spans(data):
        body = data[body_start:body_end]
        if b":" in body.split(b"\n", 1)[0]:
            blocks.append((label, b""))
            continue
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except ValueError:
            continue
        blocks.append((label, der))
    return blocks


def is_pem(data: bytes) -> bool:
    """True when the bytes contain at least one PEM armour line."""
    return b"-----BEGIN " in data


def parse_certificate_der(der: bytes, source: str) -> x509.Certificate:
    """Parse one DER certificate or raise :class:`KeyLoadError` naming the source."""
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as err:
        raise KeyLoadError(
            f"could not parse certificate in {source}: {err}",
            hint="pass an X.509 certificate in PEM or DER form",
        ) from err


CERTIFICATE_LABELS = ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")


def certificates_from_bytes(data: bytes, source: str, what: str = "certificate") -> list[x509.Certificate]:
    """Every certificate in PEM or DER bytes, in order (at least one)."""
    if is_pem(data):
        blocks = pem_blocks(data)
        found = [parse_certificate_der(der, source) for label, der in blocks if label in CERTIFICATE_LABELS]
        if not found:
            labels = ", ".join(sorted({label for label, _ in blocks})) or "none"
            raise KeyLoadError(
                f"no CERTIFICATE block in {what} {source} (found: {labels})",
                hint="pass the PEM file that holds the certificate",
            )
        return found
    if not data.strip():
        raise KeyLoadError(f"{what} file is empty: {source}")
    return [parse_certificate_der(data, source)]


def load_certificates(path: str, what: str = "certificate") -> list[x509.Certificate]:
    """Every certificate in a PEM or DER file, in file order (at least one)."""
    return certificates_from_bytes(read_bytes(path, what), path, what)


def load_leaf_and_chain(
    certificate_path: str, intermediates_path: str | None = None
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Leaf from ``--certificate`` (full-chain PEM allowed) plus the intermediates to send."""
    certs = load_certificates(certificate_path)
    leaf, rest = certs[0], certs[1:]
    if intermediates_path:
        rest = rest + load_chain_bundle(intermediates_path)
    return leaf, normalise_chain(leaf, rest)


def load_chain_bundle(path: str) -> list[x509.Certificate]:
    """Certificates of an ``--intermediates`` bundle; any other PEM block is an error."""
    data = read_bytes(path, "intermediates")
    if not is_pem(data):
        return load_certificates(path, "intermediates")
    blocks = pem_blocks(data)
    bad = [label for label, _ in blocks if label not in CERTIFICATE_LABELS]
    if bad:
        raise KeyLoadError(
            f"invalid certificate chain in {path}: it holds a {bad[0]} block",
            hint="--intermediates takes only CERTIFICATE blocks",
        )
    if not blocks:
        raise KeyLoadError(f"invalid certificate chain in {path}: no CERTIFICATE block")
    return [parse_certificate_der(der, path) for _, der in blocks]


def normalise_chain(leaf: x509.Certificate, chain: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Drop the leaf and duplicates, keep order, and enforce the five-certificate limit."""
    from cryptography.hazmat.primitives import serialization

    seen = {leaf.public_bytes(serialization.Encoding.DER)}
    result = []
    for cert in chain:
        der = cert.public_bytes(serialization.Encoding.DER)
        if der in seen:
            continue
        seen.add(der)
        result.append(cert)
    if len(result) > MAX_CHAIN:
        raise CertificateError(
            f"certificate chain has {len(result)} intermediates; Roles Anywhere accepts at most {MAX_CHAIN}",
            hint="send only the intermediates between the leaf and the trust anchor",
        )
    return result


def der(cert: x509.Certificate) -> bytes:
    """DER bytes of a certificate."""
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.DER)


def x509_header(cert: x509.Certificate) -> str:
    """Value of ``X-Amz-X509``: standard base64 of the DER, no line breaks."""
    return base64.b64encode(der(cert)).decode("ascii")


def chain_header(chain: Sequence[x509.Certificate]) -> str:
    """Value of ``X-Amz-X509-Chain``: comma-joined base64 DERs, no spaces."""
    return ",".join(x509_header(cert) for cert in chain)


def fingerprint(cert: x509.Certificate, algorithm: str = "sha256") -> str:
    """Lowercase hex fingerprint of the DER (sha1 for the Go listing, sha256 by default)."""
    return hashlib.new(algorithm, der(cert)).hexdigest()


def not_valid_before(cert: x509.Certificate) -> _dt.datetime:
    """Start of validity as an aware UTC datetime (across cryptography versions)."""
    value = getattr(cert, "not_valid_before_utc", None)
    return value if value is not None else cert.not_valid_before.replace(tzinfo=_dt.timezone.utc)


def not_valid_after(cert: x509.Certificate) -> _dt.datetime:
    """End of validity as an aware UTC datetime (across cryptography versions)."""
    value = getattr(cert, "not_valid_after_utc", None)
    return value if value is not None else cert.not_valid_after.replace(tzinfo=_dt.timezone.utc)


def preflight(cert: x509.Certificate, *, now: _dt.datetime | None = None) -> list[str]:
    """Refuse a certificate Roles Anywhere would reject; return warnings to print.

    Checks: X.509 v3, not a CA, KeyUsage with digitalSignature,
    and the validity window. The caller decides where warnings go (stderr for the CLI).
    """
    from cryptography import x509

    now = now or _dt.datetime.now(_dt.timezone.utc)
    subject = cert.subject.rfc4514_string() or "<empty subject>"
    if cert.version != x509.Version.v3:
        raise CertificateError(
            f"certificate {subject} is X.509 {cert.version.name}; Roles Anywhere needs v3",
            hint="reissue the certificate as X.509 v3",
        )
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            raise CertificateError(
                f"certificate {subject} is a CA certificate (BasicConstraints CA:TRUE)",
                hint="use the end-entity certificate, not the CA",
            )
    except x509.ExtensionNotFound:
        pass
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        # The trust-model page requires KeyUsage to include digitalSignature; a
        # certificate without the extension is refused by the service.
        raise CertificateError(
            f"certificate {subject} has no KeyUsage extension; Roles Anywhere requires digitalSignature",
            hint="reissue it with keyUsage = critical, digitalSignature",
        ) from None
    if not usage.digital_signature:
        raise CertificateError(
            f"certificate {subject} lacks the digitalSignature key usage",
            hint="reissue it with keyUsage = digitalSignature",
        )
    start, end = not_valid_before(cert), not_valid_after(cert)
    if now < start:
        raise CertificateError(
            f"certificate {subject} is not valid until {start:%Y-%m-%d %H:%M:%SZ}",
            hint="check the system clock, or wait until the certificate becomes valid",
        )
    if now >= end:
        raise CertificateError(
            f"certificate {subject} expired on {end:%Y-%m-%d %H:%M:%SZ}",
            hint="renew the certificate",
        )
    warnings = []
    if end - now < EXPIRY_WARNING:
        days = (end - now).total_seconds() / 86400
        warnings.append(f"certificate {subject} expires in {days:.1f} days ({end:%Y-%m-%d %H:%M:%SZ}); renew it soon")
    return warnings


def key_matches_certificate(public_key: object, cert: x509.Certificate) -> bool:
    """Compare a software public key with the certificate's, by SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives import serialization

    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        mine = public_key.public_bytes(serialization.Encoding.DER, fmt)  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
    return bool(mine == cert.public_key().public_bytes(serialization.Encoding.DER, fmt))
