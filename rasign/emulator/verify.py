"""SigV4-X509 verification of a received CreateSession request.

Follows protocol.md sections 1-5 and reference-helper.md 3.6 from the verifier's side:
the Authorization header names the algorithm, the certificate serial, the scope, the
signed headers and the signature; the emulator rebuilds the canonical request from the
bytes it received and checks the signature with the public key of the certificate in
``X-Amz-X509``. Everything a real client must get right is enforced, because the
emulator's purpose is to catch clients that get it wrong:

- the algorithm is one of the three and matches the *leaf key* type;
- ``host``, ``x-amz-date``, ``x-amz-x509`` (and ``x-amz-x509-chain`` when sent) are
  signed, and ``content-type`` is signed whenever there is a body;
- ``X-Amz-Date`` is within five minutes of the emulator clock;
- the scope is ``<date of X-Amz-Date>/<emulator region>/rolesanywhere/aws4_request``;
- the ``Credential=`` serial is the leaf serial in decimal.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rasign.certs import MAX_CHAIN
from rasign.emulator.received import (
    ReceivedRequest,
    canonical_request_as_received,
    parse_amz_date,
    skew_problem,
)
from rasign.emulator.rejection import Rejection, access_denied, untrusted, validation

if TYPE_CHECKING:
    from cryptography import x509

ALGORITHMS = ("AWS4-X509-RSA-SHA256", "AWS4-X509-ECDSA-SHA256", "AWS4-X509-MLDSA")
MAX_SKEW = _dt.timedelta(minutes=5)
REQUIRED_SIGNED = ("host", "x-amz-date", "x-amz-x509")


@dataclass(frozen=True)
class X509Caller:
    """Who signed a request whose signature verified."""

    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    algorithm: str
    canonical_request: str
    string_to_sign: str


def verify_x509_signature(request: ReceivedRequest, *, region: str, now: _dt.datetime) -> X509Caller:
    """Authenticate ``request`` or raise the :class:`Rejection` AWS would answer with."""
    from rasign import sigv4x509
    from rasign.errors import KeyLoadError
    from rasign.signer import key_kind_of, verify_signature

    header = request.header("authorization")
    if not header:
        raise access_denied("Missing Authorization header", reason="request carries no Authorization header")
    try:
        auth = sigv4x509.parse_authorization(header)
    except ValueError:
        raise access_denied(
            "Authorization header is not a SigV4-X509 header "
            "('<algorithm> Credential=<serial>/<scope>, SignedHeaders=<list>, Signature=<hex>')"
        ) from None
    if auth.algorithm not in ALGORITHMS:
        raise access_denied(f"Unsupported signing algorithm {auth.algorithm}; use one of {', '.join(ALGORITHMS)}")

    signed = auth.signed_headers
    present = request.header_names()
    _require_signed(signed, present, request.body)

    date_value = request.header("x-amz-date")
    signed_at = parse_amz_date(date_value)
    if signed_at is None:
        raise access_denied(f"X-Amz-Date {date_value!r} is not in the form YYYYMMDDTHHMMSSZ")
    problem = skew_problem(signed_at, now, MAX_SKEW)
    if problem:
        raise access_denied(problem, reason=f"clock skew: {problem}")
    _check_scope(auth.scope, date_value or "", region)

    leaf = _decode_certificate(request.header("x-amz-x509") or "", "X-Amz-X509")
    intermediates = _decode_chain(request.header("x-amz-x509-chain"))
    if auth.serial_number != leaf.serial_number:
        raise access_denied(
            f"Credential serial number {auth.serial_number} does not match the X-Amz-X509 "
            f"certificate serial number {leaf.serial_number}"
        )
    try:
        kind = key_kind_of(leaf.public_key())
    except KeyLoadError as err:
        raise untrusted(f"leaf key type not accepted: {err.message}") from err
    if kind.algorithm != auth.algorithm:
        raise access_denied(
            f"Signing algorithm {auth.algorithm} does not match the certificate's {kind.value} key "
            f"(expected {kind.algorithm})",
            reason="algorithmMismatch",
        )

    canonical = canonical_request_as_received(request, signed)
    text = sigv4x509.string_to_sign(auth.algorithm, date_value or "", auth.scope, canonical)
    if not verify_signature(leaf.public_key(), auth.signature, text.encode("utf-8")):
        raise access_denied(
            "Invalid signature", reason=f"signature does not verify; canonical request was:\n{canonical}"
        )
    return X509Caller(
        leaf=leaf,
        intermediates=tuple(intermediates),
        algorithm=auth.algorithm,
        canonical_request=canonical,
        string_to_sign=text,
    )


def _require_signed(signed: tuple[str, ...], present: set[str], body: bytes) -> None:
    for name in signed:
        if name not in present:
            raise access_denied(f"Header {name!r} is listed in SignedHeaders but was not sent")
    required = list(REQUIRED_SIGNED)
    if "x-amz-x509-chain" in present:
        required.append("x-amz-x509-chain")
    if body:
        required.append("content-type")
    for name in required:
        if name not in present:
            raise access_denied(f"Missing required header {name!r}", reason=f"missingSignedHeaders: {name}")
        if name not in signed:
            raise access_denied(
                f"Header {name!r} must be signed (include it in SignedHeaders)",
                reason=f"missingSignedHeaders: {name}",
            )


def _check_scope(scope: str, date_value: str, region: str) -> None:
    parts = scope.split("/")
    if len(parts) != 4:
        raise access_denied(f"Credential scope {scope!r} must be <date>/<region>/rolesanywhere/aws4_request")
    date, scope_region, service, terminator = parts
    if date != date_value[:8]:
        raise access_denied(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{date_value[:8]}'"
        )
    if scope_region != region:
        raise access_denied(
            f"Credential should be scoped to a valid region, not '{scope_region}' (this endpoint is {region})"
        )
    if service != "rolesanywhere":
        raise access_denied(f"Credential should be scoped to correct service: 'rolesanywhere', not '{service}'")
    if terminator != "aws4_request":
        raise access_denied(f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'")


def _decode_certificate(value: str, header: str) -> x509.Certificate:
    from cryptography import x509

    try:
        der = base64.b64decode(value.strip(), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as err:
        raise validation(f"{header} must be the base64 of a DER X.509 certificate") from err


def _decode_chain(value: str | None) -> list[x509.Certificate]:
    if value is None:
        return []
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if len(parts) > MAX_CHAIN:
        raise validation(f"X-Amz-X509-Chain holds {len(parts)} certificates; at most {MAX_CHAIN} are allowed")
    return [_decode_certificate(part, "every X-Amz-X509-Chain entry") for part in parts]


__all__ = ["ALGORITHMS", "MAX_SKEW", "Rejection", "X509Caller", "verify_x509_signature"]
