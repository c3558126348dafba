"""Certificate path validation to a trust anchor, as Roles Anywhere does it.

The rules come from the trust-model page (protocol.md section 1): the leaf is X.509 v3,
not a CA, has KeyUsage digitalSignature and a non-empty subject; every issuer is a CA
with keyCertSign; every certificate, the anchor included, is inside its validity window;
every signature in the path uses SHA-256 or stronger; the path is at most five
intermediates long. Signatures are checked for real with cryptography
(``verify_directly_issued_by``), so a certificate that merely *names* a trusted issuer
is rejected.

Intermediates may arrive in any order; the path is searched depth-first so that a
superfluous or shuffled ``X-Amz-X509-Chain`` still works when a valid path exists.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rasign.certs import MAX_CHAIN, not_valid_after, not_valid_before
from rasign.emulator.rejection import untrusted
from rasign.errors import ConfigError

if TYPE_CHECKING:
    from cryptography import x509

_STRONG_HASHES = frozenset({"sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512", "sha512-256"})


def describe(cert: x509.Certificate) -> str:
    """Subject of a certificate for messages; never empty."""
    return cert.subject.rfc4514_string() or f"<empty subject, serial {cert.serial_number:x}>"


def check_trust_anchor(cert: x509.Certificate) -> None:
    """Refuse, at configuration time, a trust anchor AWS would not accept."""
    problem = _issuer_problem(cert)
    if problem:
        raise ConfigError(
            f"trust anchor {describe(cert)} cannot be used: {problem}",
            hint="a trust anchor must be a CA certificate (CA:TRUE, keyUsage keyCertSign)",
        )


def validate_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    now: _dt.datetime,
) -> list[x509.Certificate]:
    """Return the path leaf..anchor, or raise the "Untrusted Signing Certificate" rejection."""
    problem = _leaf_problem(leaf, now)
    if problem:
        raise untrusted(f"leaf {describe(leaf)}: {problem}")
    if len(intermediates) > MAX_CHAIN:
        raise untrusted(f"X-Amz-X509-Chain holds {len(intermediates)} certificates; at most {MAX_CHAIN} are allowed")
    failures: list[str] = []
    path = _extend([leaf], list(intermediates), list(anchors), now, failures)
    if path is None:
        reason = failures[-1] if failures else f"no issuer of {describe(leaf)} among the chain and the trust anchor"
        raise untrusted(reason)
    return path


def _extend(
    path: list[x509.Certificate],
    pool: list[x509.Certificate],
    anchors: list[x509.Certificate],
    now: _dt.datetime,
    failures: list[str],
) -> list[x509.Certificate] | None:
    current = path[-1]
    intermediates_used = len(path) - 1
    for candidate, is_anchor in [(a, True) for a in anchors] + [(c, False) for c in pool]:
        if candidate in path or candidate.subject != current.issuer:
            continue
        problem = _issued_by_problem(current, candidate, now, intermediates_used)
        if problem:
            failures.append(problem)
            continue
        if is_anchor:
            return [*path, candidate]
        if intermediates_used + 1 > MAX_CHAIN:
            failures.append(f"path longer than {MAX_CHAIN} intermediates")
            continue
        found = _extend([*path, candidate], [c for c in pool if c is not candidate], anchors, now, failures)
        if found is not None:
            return found
    if not failures:
        failures.append(
            f"no certificate named {current.issuer.rfc4514_string()} (issuer of {describe(current)}) in the chain or the trust anchor"
        )
    return None


def _issued_by_problem(
    cert: x509.Certificate, issuer: x509.Certificate, now: _dt.datetime, intermediates_below: int
) -> str | None:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    weak = _weak_signature(cert)
    if weak:  # before verifying: cryptography cannot even verify MD5/SHA-1 signatures
        return weak
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return f"signature on {describe(cert)} does not verify with the key of {describe(issuer)}"
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        return f"cannot verify {describe(cert)} with {describe(issuer)}: {err}"
    problem = _issuer_problem(issuer) or _validity_problem(issuer, now)
    if problem:
        return f"issuer {describe(issuer)}: {problem}"
    path_length = _path_length(issuer)
    if path_length is not None and intermediates_below > path_length:
        return f"issuer {describe(issuer)}: pathLenConstraint {path_length} exceeded"
    return None


def _leaf_problem(leaf: x509.Certificate, now: _dt.datetime) -> str | None:
    from cryptography import x509

    if leaf.version != x509.Version.v3:
        return f"certificate is X.509 {leaf.version.name}, v3 is required"
    if not leaf.subject.rdns:
        return "certificates with an empty subject are not supported"
    try:
        if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "end-entity certificate has BasicConstraints CA:TRUE"
    except x509.ExtensionNotFound:
        pass
    try:
        if not leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return "KeyUsage lacks digitalSignature"
    except x509.ExtensionNotFound:
        return "KeyUsage extension with digitalSignature is required"
    return _validity_problem(leaf, now)


def _issuer_problem(cert: x509.Certificate) -> str | None:
    from cryptography import x509

    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return "not a CA (BasicConstraints CA:FALSE)"
    except x509.ExtensionNotFound:
        return "not a CA (no BasicConstraints)"
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return "KeyUsage lacks keyCertSign"
    except x509.ExtensionNotFound:
        return "KeyUsage extension with keyCertSign is required"
    return None


def _path_length(cert: x509.Certificate) -> int | None:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    except x509.ExtensionNotFound:
        return None


def _validity_problem(cert: x509.Certificate, now: _dt.datetime) -> str | None:
    start, end = not_valid_before(cert), not_valid_after(cert)
    if now < start:
        return f"not valid before {start:%Y-%m-%dT%H:%M:%SZ}"
    if now > end:
        return f"expired at {end:%Y-%m-%dT%H:%M:%SZ}"
    return None


def _weak_signature(cert: x509.Certificate) -> str | None:
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return f"{describe(cert)} is signed with an unsupported algorithm"
    if algorithm is None:  # Ed25519/Ed448/ML-DSA sign without a separate hash
        return None
    if algorithm.name not in _STRONG_HASHES:
        return f"{describe(cert)} is signed with {algorithm.name.upper()}; SHA-256 or stronger is required"
    return None
