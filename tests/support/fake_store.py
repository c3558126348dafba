"""An in-memory certificate store for tests of the selection logic (test-only: not in the wheel).

The Windows and macOS stores cannot run on Linux CI, but everything they decide (which
certificate the selector means, what to do with several, how to explain ambiguity) is
done by :func:`backends.store.base.select_entry` on :class:`StoreEntry` records. This store
feeds that same code with certificates and software keys built by a test, optionally
shaped like a Windows or macOS store (its ``description`` and ``no_match_message``), so
the logic those platforms rely on is exercised here. Signing uses the real software key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rasign.backends.store.base import CertificateStore, StoreEntry
from rasign.backends.store.selector import ERR_NO_MATCH, ERR_NO_MATCH_WINDOWS
from rasign.errors import SigningError
from rasign.signer import KeyKind, Signer, key_kind_of

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

FLAVOURS = {
    "windows": ("CurrentUser\\MY", ERR_NO_MATCH_WINDOWS),
    "macos": ("keychain search list", ERR_NO_MATCH),
    "plain": ("fake store", ERR_NO_MATCH),
}


class SoftwareKeySigner(Signer):
    """Signs with a ``cryptography`` private key held in memory."""

    backend_name = "fake-store"

    def __init__(self, key: Any, certificate: x509.Certificate, chain: list[x509.Certificate]) -> None:
        self._key = key
        self._certificate = certificate
        self._chain = chain
        self.closed = False

    @property
    def key_kind(self) -> KeyKind:
        return key_kind_of(self._key.public_key())

    def public_key(self) -> PublicKeyTypes:
        return self._key.public_key()  # type: ignore[no-any-return]

    def sign(self, message: bytes, digest: str = "SHA256") -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

        if self.closed:
            raise SigningError("the fake store signer is closed")
        algorithm = {"SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(), "SHA512": hashes.SHA512()}[digest]
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(message, padding.PKCS1v15(), algorithm)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(message, ec.ECDSA(algorithm))
        raise SigningError(f"unsupported key {type(self._key).__name__}")

    def close(self) -> None:
        self.closed = True


class FakeStore(CertificateStore):
    """A store whose contents a test chooses: ``add(cert, key)`` per identity."""

    def __init__(self, flavour: str = "plain") -> None:
        self.description, self.no_match_message = FLAVOURS[flavour]
        self._entries: list[StoreEntry] = []
        self.opened: list[StoreEntry] = []
        self.closed = False

    def add(
        self,
        certificate: x509.Certificate,
        key: Any = None,
        *,
        where: str | None = None,
        chain: Iterable[x509.Certificate] = (),
    ) -> StoreEntry:
        """Add a certificate; without ``key`` it is a certificate with no private key."""
        entry = StoreEntry(
            certificate,
            where or f"{self.description} #{len(self._entries) + 1}",
            list(chain),
            has_private_key=key is not None,
            handle=key,
        )
        self._entries.append(entry)
        return entry

    def entries(self) -> list[StoreEntry]:
        return list(self._entries)

    def open_signer(self, entry: StoreEntry) -> Signer:
        self.opened.append(entry)
        return SoftwareKeySigner(entry.handle, entry.certificate, entry.chain)

    def close(self) -> None:
        self.closed = True
