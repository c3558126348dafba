"""Helpers for tests that talk to the emulator (test-only: not shipped in the wheel).

- :func:`running_emulator`: a context manager for pytest fixtures
  (``yield from``-friendly; the lead's ``tests/conftest.py`` wraps :class:`Emulator`).
- :func:`prepare_create_session` / :func:`send`: a deliberately low-level CreateSession
  client built on the pure core. It can also build *wrong* requests (unsigned headers,
  another region in the scope, a stale date, a wrong algorithm) so the emulator's
  rejections can be tested one by one. Production code uses ``rasign.session``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rasign.emulator.server import Emulator

if TYPE_CHECKING:
    import requests
    from cryptography import x509


@contextlib.contextmanager
def running_emulator(trust_anchor_pems: Sequence[bytes] = (), **options: Any) -> Iterator[Emulator]:
    """Start an :class:`Emulator`, yield it, and always stop it."""
    emulator = Emulator(trust_anchor_pems, **options).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@dataclass
class PreparedCreateSession:
    """A signed CreateSession request ready to send (headers in signing order)."""

    url: str
    headers: list[tuple[str, str]]
    body: bytes
    canonical_request: str = ""
    string_to_sign: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def replace_header(self, name: str, value: str) -> None:
        """Change a header after signing (to test that tampering is caught)."""
        self.headers = [(k, value if k.lower() == name.lower() else v) for k, v in self.headers]


def sign_with(private_key: Any) -> Any:
    """A ``sign(message) -> wire signature`` function for a cryptography private key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    def sign(message: bytes) -> bytes:
        if isinstance(private_key, rsa.RSAPrivateKey):
            return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            return private_key.sign(message, ec.ECDSA(hashes.SHA256()))
        return private_key.sign(message)  # ML-DSA: pure, empty context

    return sign


def prepare_create_session(
    emulator: Emulator,
    certificate: x509.Certificate,
    private_key: Any,
    *,
    chain: Sequence[x509.Certificate] = (),
    arns_in: str = "query",
    duration_seconds: int | None = 3600,
    role_session_name: str | None = None,
    instance_properties: dict[str, str] | None = None,
    profile_arn: str | None = None,
    role_arn: str | None = None,
    trust_anchor_arn: str | None = None,
    region: str | None = None,
    when: _dt.datetime | None = None,
    algorithm: str | None = None,
    content_type: str = "application/json",
    unsigned: Sequence[str] = (),
    serial_number: int | None = None,
    sign: Callable[[bytes], bytes] | None = None,
) -> PreparedCreateSession:
    """Sign a CreateSession request the way the Go helper does (or IRAS with ``arns_in='body'``).

    ``unsigned`` names headers to send but leave out of SignedHeaders; ``sign`` replaces
    the correct signing function (to send a raw ECDSA or RSA-PSS signature, say).
    """
    from rasign import sigv4x509
    from rasign.certs import chain_header, x509_header
    from rasign.signer import key_kind_of

    arns = {
        "profileArn": profile_arn or emulator.profile_arn,
        "roleArn": role_arn if role_arn is not None else emulator.role_arn,
        "trustAnchorArn": trust_anchor_arn or emulator.trust_anchor_arn,
    }
    body_fields: dict[str, Any] = {}
    query: list[tuple[str, str]] = []
    if arns_in == "query":
        query = sorted(arns.items())
    else:
        body_fields.update(arns)
    if duration_seconds is not None:
        body_fields["durationSeconds"] = duration_seconds
    if role_session_name is not None:
        body_fields["roleSessionName"] = role_session_name
    if instance_properties is not None:
        body_fields["instanceProperties"] = instance_properties
    body = json.dumps(body_fields, separators=(",", ":")).encode() if body_fields else b""

    moment = when or _dt.datetime.now(_dt.timezone.utc)
    host = urlsplit(emulator.endpoint).netloc
    headers: list[tuple[str, str]] = []
    if body:
        headers.append(("Content-Type", content_type))
    headers += [("Host", host), ("X-Amz-Date", sigv4x509.amz_date(moment)), ("X-Amz-X509", x509_header(certificate))]
    if chain:
        headers.append(("X-Amz-X509-Chain", chain_header(chain)))
    to_sign = [(k, v) for k, v in headers if k.lower() not in {u.lower() for u in unsigned}]
    request = sigv4x509.CanonicalInput(method="POST", path="/sessions", query=query, headers=to_sign, body=body)
    date_value = sigv4x509.amz_date(moment)
    scope = sigv4x509.credential_scope(date_value, region or emulator.region)
    canonical = sigv4x509.canonical_request(request)
    text = sigv4x509.string_to_sign(
        algorithm or key_kind_of(certificate.public_key()).algorithm, date_value, scope, canonical
    )
    authorization = sigv4x509.authorization_header(
        algorithm or key_kind_of(certificate.public_key()).algorithm,
        certificate.serial_number if serial_number is None else serial_number,
        scope,
        sigv4x509.signed_headers(to_sign),
        (sign or sign_with(private_key))(text.encode("utf-8")).hex(),
    )
    wire_query = sigv4x509.wire_query(query)
    url = f"{emulator.endpoint}/sessions" + (f"?{wire_query}" if wire_query else "")
    return PreparedCreateSession(
        url=url,
        headers=[*headers, ("Authorization", authorization)],
        body=body,
        canonical_request=canonical,
        string_to_sign=text,
    )


def send(prepared: PreparedCreateSession, ca_bundle: str, timeout: float = 10.0) -> requests.Response:
    """POST the prepared request with TLS verification against ``ca_bundle``."""
    import requests

    return requests.post(
        prepared.url, data=prepared.body, headers=dict(prepared.headers), verify=ca_bundle, timeout=timeout
    )
