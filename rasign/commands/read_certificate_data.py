"""``rasign read-certificate-data``: describe one certificate or list matching identities.

A certificate file prints the Go helper's compact JSON (keyType, certificateData,
serialNumber, supportedAlgorithms). A ``pkcs11:`` URI, ``--cert-selector`` or
``--cert-store`` lists every match in the Go helper's text layout, extended with the
issuer, validity, where it lives and a ready-to-paste URI or selector; ``--json`` gives
the same list as JSON for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from rasign.cli import flags

if TYPE_CHECKING:
    from cryptography import x509

    from rasign.signer import Identity


def configure(parser: argparse.ArgumentParser) -> None:
    """Key-source flags (for PKCS#11 login and stores) plus ``--json``."""
    flags.add_signer_flags(parser)
    parser.add_argument("--json", action="store_true", help="list identities as JSON instead of text")
    flags.add_debug_flag(parser)


def key_type_and_algorithms(certificate: x509.Certificate) -> tuple[str, list[str]]:
    """The Go helper's ``keyType`` and ``supportedAlgorithms`` for a certificate's key."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", ["RSASHA256", "RSASHA384", "RSASHA512"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", ["ECSHA256", "ECSHA384", "ECSHA512"]
    name = type(key).__name__.upper()
    for level in ("44", "65", "87"):
        if f"MLDSA{level}" in name:
            return f"ML-DSA-{level}", [f"ML-DSA-{level}"]
    # Fix of the Go helper's PR #195 complaint: unknown keys advertise nothing usable.
    return "", []


def describe_certificate(certificate: x509.Certificate) -> str:
    """Compact JSON for one certificate, as the Go helper prints it (no trailing newline)."""
    import base64

    from rasign import certs

    key_type, algorithms = key_type_and_algorithms(certificate)
    return json.dumps(
        {
            "keyType": key_type,
            "certificateData": base64.b64encode(certs.der(certificate)).decode("ascii"),
            "serialNumber": str(certificate.serial_number),
            "supportedAlgorithms": algorithms,
        },
        separators=(",", ":"),
    )


def dn_string(name: x509.Name) -> str:
    """Render a DN like the Go helper (reference-helper.md 10.1), so selectors can be pasted."""
    from rasign.x509names import go_dn_string

    return go_dn_string(name.public_bytes())


def listing_text(identities: list[Identity]) -> str:
    """The Go helper's listing, plus issuer, validity, location and selector lines."""
    from rasign import certs
    from rasign.credentials import rfc3339

    if not identities:
        return "No matching identities\n"
    lines = ["Matching identities"]
    for index, identity in enumerate(identities, 1):
        cert = identity.certificate
        lines.append(f"{index}) Hex Fingerprint: {certs.fingerprint(cert, 'sha1')}")
        lines.append(f"Subject: {dn_string(cert.subject)}")
        lines.append(f"Issuer: {dn_string(cert.issuer)}")
        lines.append(f"Serial Number: {cert.serial_number:X}")
        lines.append(f"Not Before: {rfc3339(certs.not_valid_before(cert))}")
        lines.append(f"Not After: {rfc3339(certs.not_valid_after(cert))}")
        lines.append(f"SHA-256 Fingerprint: {certs.fingerprint(cert, 'sha256')}")
        lines.append(f"Location: {identity.where}")
        if identity.uri:
            lines.append(f"URI: {identity.uri}")
        if identity.selector:
            lines.append(f"Selector: {identity.selector}")
        lines.append("")
    return "\n".join(lines) + "\n"


def listing_json(identities: list[Identity]) -> str:
    """The same listing as a JSON array."""
    from rasign import certs
    from rasign.credentials import rfc3339

    out = []
    for identity in identities:
        cert = identity.certificate
        key_type, _ = key_type_and_algorithms(cert)
        out.append(
            {
                "subject": dn_string(cert.subject),
                "issuer": dn_string(cert.issuer),
                "serialNumber": f"{cert.serial_number:X}",
                "keyType": key_type,
                "sha1Fingerprint": certs.fingerprint(cert, "sha1"),
                "sha256Fingerprint": certs.fingerprint(cert, "sha256"),
                "notBefore": rfc3339(certs.not_valid_before(cert)),
                "notAfter": rfc3339(certs.not_valid_after(cert)),
                "location": identity.where,
                "uri": identity.uri,
                "selector": identity.selector,
                "hasPrivateKey": identity.has_private_key,
            }
        )
    return json.dumps(out, indent=2) + "\n"


def run(args: argparse.Namespace) -> int:
    """Describe the certificate file, or list identities from a token or store."""
    flags.check_exclusions(args, flags.READ_CERTIFICATE_EXCLUSIONS)
    from rasign import registry
    from rasign.errors import UsageError

    options = flags.signer_options(args)
    certificate = options.certificate or ""
    listing = certificate.startswith("pkcs11:") or options.cert_selector is not None or bool(options.cert_store)
    if not listing:
        if not certificate:
            raise UsageError(
                "read-certificate-data needs --certificate, a pkcs11: URI, or --cert-selector",
                hint="e.g. rasign read-certificate-data --certificate cert.pem",
            )
        # The file backend reads every certificate form it accepts (PEM, DER, PKCS#12, env:).
        leaf = registry.load_backend("file").list_identities(options)[0].certificate
        sys.stdout.write(describe_certificate(leaf))
        return 0
    backend = registry.load_backend(options.backend or registry.choose_backend(options))
    identities = backend.list_identities(options)
    sys.stdout.write(listing_json(identities) if args.json else listing_text(identities))
    return 0
