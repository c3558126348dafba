"""The one narrow interface every key backend implements.

A :class:`Signer` owns a private key that may never leave its hardware. It gives the
certificate that identifies the key, the intermediate chain sent in ``X-Amz-X509-Chain``,
and ``sign(message)``, which returns the signature exactly as it travels on the wire:
PKCS#1 v1.5 bytes for RSA, DER ``SEQUENCE{r, s}`` for ECDSA, raw bytes for ML-DSA.

``sign`` takes the *message*, not a digest: the backend hashes (or lets its token hash).
That avoids the Go helper's trap of handing a message to an interface that expects a
digest. ECDSA is always over SHA-256 for SigV4-X509, whatever the curve; ``sign-string``
may ask for SHA-384/512.

The AWS algorithm name comes from the *key* type, never from the certificate's own
signature algorithm (an RSA-signed certificate can carry an EC key).
"""

from __future__ import annotations

import abc
import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rasign.errors import KeyLoadError, SigningError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes


class KeyKind(str, enum.Enum):
    """Key families Roles Anywhere accepts."""

    RSA = "RSA"
    EC = "EC"
    MLDSA = "MLDSA"

    @property
    def algorithm(self) -> str:
        """The SigV4-X509 algorithm string for this key family."""
        return _ALGORITHMS[self]


_ALGORITHMS = {
    KeyKind.RSA: "AWS4-X509-RSA-SHA256",
    KeyKind.EC: "AWS4-X509-ECDSA-SHA256",
    KeyKind.MLDSA: "AWS4-X509-MLDSA",
}

DIGESTS = ("SHA256", "SHA384", "SHA512")
"""Digest names accepted by :meth:`Signer.sign` (the Go helper's ``--digest`` values)."""


def hash_message(message: bytes, digest: str) -> bytes:
    """Return the raw digest of ``message`` with one of :data:`DIGESTS`."""
    try:
        return hashlib.new(digest.replace("SHA", "sha"), message).digest()
    except ValueError as err:
        raise SigningError(f"unsupported hash algorithm {digest!r}") from err


DIGEST_INFO_PREFIX = {
    "SHA256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "SHA384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "SHA512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
"""DER DigestInfo prefixes, for tokens that only offer raw PKCS#1 v1.5 (CKM_RSA_PKCS)."""


def der_from_raw_ecdsa(raw: bytes) -> bytes:
    """Convert a raw ``r || s`` ECDSA signature (PKCS#11, TPM, CNG) into DER.

    Roles Anywhere only accepts the DER ``SEQUENCE{INTEGER r, INTEGER s}`` form.
    """
    if not raw or len(raw) % 2:
        raise SigningError(f"token returned a malformed ECDSA signature of {len(raw)} bytes")
    half = len(raw) // 2
    return der_from_ecdsa_integers(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def der_from_ecdsa_integers(r: int, s: int) -> bytes:
    """DER-encode an ECDSA signature from its two integers (stdlib only)."""

    def integer(value: int) -> bytes:
        body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
        return b"\x02" + _der_length(len(body)) + body

    content = integer(r) + integer(s)
    return b"\x30" + _der_length(len(content)) + content


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def key_kind_of(public_key: PublicKeyTypes) -> KeyKind:
    """Classify a cryptography public key into the family that picks the algorithm."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        return KeyKind.RSA
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return KeyKind.EC
    if _is_mldsa_public(public_key):
        return KeyKind.MLDSA
    raise KeyLoadError(
        f"unsupported key type {type(public_key).__name__}",
        hint="Roles Anywhere accepts RSA, EC (P-256/P-384/P-521) and ML-DSA keys",
    )


def _is_mldsa_public(public_key: object) -> bool:
    try:
        from cryptography.hazmat.primitives.asymmetric import mldsa
    except ImportError:
        return False
    return isinstance(
        public_key,
        tuple(
            getattr(mldsa, name)
            for name in ("MLDSA44PublicKey", "MLDSA65PublicKey", "MLDSA87PublicKey")
            if hasattr(mldsa, name)
        ),
    )


def verify_signature(public_key: PublicKeyTypes, signature: bytes, message: bytes, digest: str = "SHA256") -> bool:
    """Check a wire-format signature with the certificate's public key.

    Used to prove a key belongs to its certificate before any network call.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    algorithm = {"SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(), "SHA512": hashes.SHA512()}[digest]
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, message, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, message, ec.ECDSA(algorithm))
        elif _is_mldsa_public(public_key):
            public_key.verify(signature, message)  # type: ignore[call-arg,union-attr]
        else:
            return False
    except InvalidSignature:
        return False
    return True


class Signer(abc.ABC):
    """A private key plus the certificate that names it.

    Backends subclass this. Construction must fail early (missing library, wrong PIN,
    key/certificate mismatch) rather than at the first ``sign``.
    """

    #: Short backend name for logs and ``--debug`` output ("file", "pkcs11", "tpm", ...).
    backend_name: str = "unknown"

    # Backends set these two in their constructor; the properties below read them.
    _certificate: x509.Certificate | None = None
    _chain: Sequence[x509.Certificate] = ()

    @property
    def certificate(self) -> x509.Certificate | None:
        """The end-entity certificate, or None when the backend has none (key-only URI)."""
        return self._certificate

    @property
    def chain(self) -> list[x509.Certificate]:
        """Intermediates for ``X-Amz-X509-Chain``, issuer order, leaf excluded."""
        return list(self._chain)

    @property
    @abc.abstractmethod
    def key_kind(self) -> KeyKind:
        """Family of the private key; picks the SigV4-X509 algorithm."""

    @property
    def algorithm(self) -> str:
        """``AWS4-X509-RSA-SHA256``, ``AWS4-X509-ECDSA-SHA256`` or ``AWS4-X509-MLDSA``."""
        return self.key_kind.algorithm

    @abc.abstractmethod
    def public_key(self) -> PublicKeyTypes:
        """Public half of the signing key (from the key itself where the backend can)."""

    @abc.abstractmethod
    def sign(self, message: bytes, digest: str = "SHA256") -> bytes:
        """Sign ``message`` and return the wire-format signature."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions, handles and cached secrets. Safe to call twice."""

    def __enter__(self) -> Signer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def describe(self) -> str:
        """One line naming the backend and key, without secrets, for ``--debug``."""
        return f"{self.backend_name} {self.key_kind.value} key"

    def check_matches_certificate(self) -> None:
        """Prove the key belongs to the certificate with a test signature.

        The signature costs one operation on the token, which is cheap compared with a
        CreateSession round trip that would fail with an opaque "Invalid signature".
        """
        certificate = self.certificate
        if certificate is None:
            return
        message = b"rasign key/certificate consistency check"
        signature = self.sign(message, "SHA256")
        if not verify_signature(certificate.public_key(), signature, message, "SHA256"):
            raise KeyLoadError(
                "the private key does not match the certificate",
                hint="pass the key that was certified, or the certificate issued for this key",
            )


class DelegatingSigner(Signer):
    """A signer that wraps another and passes every call through; subclasses change one thing.

    The store backend swaps in the certificate its selector chose; the agent times
    signatures to tell the person when a key waits for a touch.
    """

    def __init__(self, inner: Signer) -> None:
        self._inner = inner
        self.backend_name = inner.backend_name

    @property
    def certificate(self) -> x509.Certificate | None:
        return self._inner.certificate

    @property
    def chain(self) -> list[x509.Certificate]:
        return self._inner.chain

    @property
    def key_kind(self) -> KeyKind:
        return self._inner.key_kind

    def public_key(self) -> PublicKeyTypes:
        return self._inner.public_key()

    def sign(self, message: bytes, digest: str = "SHA256") -> bytes:
        return self._inner.sign(message, digest)

    def close(self) -> None:
        self._inner.close()

    def describe(self) -> str:
        return self._inner.describe()


@dataclass
class Identity:
    """A certificate a backend can sign with, as listed by ``read-certificate-data``.

    ``where`` says where it lives in words ("file /etc/pki/leaf.pem", "token rasign-test
    slot 0", "CurrentUser\\MY"); ``uri`` is a ready-to-paste ``pkcs11:`` URI when there is
    one; ``selector`` is a ``--cert-selector`` value that picks exactly this certificate.
    """

    certificate: x509.Certificate
    where: str
    uri: str | None = None
    selector: str | None = None
    has_private_key: bool = True
