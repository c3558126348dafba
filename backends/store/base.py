"""The small interface every certificate store implements, and the signer wrapper they share.

A store only has to say what it holds (:meth:`CertificateStore.entries`) and open the key
of one entry (:meth:`CertificateStore.open_signer`). Parsing the selector, matching,
ignoring expired certificates, breaking ties and explaining ambiguity all happen once, in
:mod:`.selector` and :func:`select_entry`, for every store alike. That is what lets
the Windows and macOS stores, which cannot run on the Linux CI, share their selection
logic with stores that do run there (the directory, PKCS#11 tokens, and the test-only fake
store in ``tests/support/fake_store.py``).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rasign.errors import KeyLoadError, RasignError
from rasign.signer import DelegatingSigner, KeyKind, Signer, key_kind_of

from .selector import ERR_NO_MATCH, CertSelector, choose, describe_candidate

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

log = logging.getLogger("rasign")


@dataclass
class StoreEntry:
    """One certificate a store holds, with what the store needs to reach its key."""

    certificate: x509.Certificate
    where: str
    """Where it lives, in words: ``file /etc/ids/web.pem``, ``CurrentUser\\MY``, ``token t1``."""
    chain: list[x509.Certificate] = field(default_factory=list)
    """Intermediates the store knows for it (leaf excluded)."""
    uri: str | None = None
    """A ``pkcs11:`` URI naming it, when it lives on a token."""
    has_private_key: bool = True
    handle: Any = None
    """Store-private reference (paths, native handles) used by ``open_signer``."""


class CertificateStore(abc.ABC):
    """Somewhere certificates and their keys live."""

    description: str = "certificate store"
    """Human words for error messages: ``directory /x``, ``CurrentUser\\MY``."""

    no_match_message: str = ERR_NO_MATCH
    """Go's text for "nothing matched" on this kind of store."""

    @abc.abstractmethod
    def entries(self) -> list[StoreEntry]:
        """Every certificate in the store (with or without a private key)."""

    @abc.abstractmethod
    def open_signer(self, entry: StoreEntry) -> Signer:
        """A ready signer for the key of ``entry`` (certificate and chain included)."""

    def problems(self) -> list[str]:
        """Things skipped while reading the store, to explain an empty result."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook: most stores hold nothing to release
        """Release native handles. Safe to call twice."""


def select_entry(store: CertificateStore, selector: CertSelector, *, use_latest: bool) -> StoreEntry:
    """Apply the selector and the choice policy to a store's identities."""
    identities = [entry for entry in store.entries() if entry.has_private_key]
    matches = [entry for entry in identities if selector.matches(entry.certificate)]
    log.debug("found %d matching identities in %s", len(matches), store.description)
    problems = store.problems()
    try:
        chosen = choose(
            matches,
            use_latest=use_latest,
            population=[entry.certificate for entry in identities],
            no_match_message=store.no_match_message,
            searched=store.description,
            log=log.debug,
        )
    except RasignError as err:
        if problems and not matches:
            hint = err.hint()
            skipped = "skipped: " + "; ".join(problems)
            raise type(err)(err.message, hint=f"{hint}; {skipped}" if hint else skipped) from err
        raise
    log.debug("selected certificate: %s", describe_candidate(chosen.certificate, chosen.where))
    return chosen


class StoreSigner(DelegatingSigner):
    """A signer whose certificate and chain come from the store, not from the key backend.

    Stores that delegate the key to another backend (the directory store to the file
    backend, the PKCS#11 store to the PKCS#11 backend) wrap that backend's signer so the
    certificate the selector chose is the one sent, with the store's chain.
    """

    def __init__(
        self, inner: Signer, certificate: x509.Certificate, chain: Sequence[x509.Certificate], where: str
    ) -> None:
        super().__init__(inner)
        self.backend_name = "store"
        self._store_certificate = certificate
        self._store_chain = list(chain)
        self.where = where

    @property
    def certificate(self) -> x509.Certificate | None:
        return self._store_certificate

    @property
    def chain(self) -> list[x509.Certificate]:
        return list(self._store_chain) or list(self._inner.chain)

    def describe(self) -> str:
        return f"store {self.key_kind.value} key ({self.where}) via {self._inner.describe()}"


class NativeStoreSigner(Signer):
    """Base of the signers whose key the operating system keeps behind a certificate (Keychain, CNG).

    The key never leaves the store, so its kind and public half come from the certificate;
    ML-DSA is refused because neither platform API signs with it.
    """

    backend_name = "store"

    def __init__(self, certificate: x509.Certificate, chain: list[x509.Certificate], store_name: str) -> None:
        self._certificate = certificate
        self._chain = chain
        self._kind = key_kind_of(certificate.public_key())
        if self._kind is KeyKind.MLDSA:
            raise KeyLoadError(f"ML-DSA keys in {store_name} are not supported", hint="use an ML-DSA key file")

    @property
    def key_kind(self) -> KeyKind:
        return self._kind

    def public_key(self) -> PublicKeyTypes:
        certificate = self._certificate
        assert certificate is not None  # always set by __init__
        return certificate.public_key()
