"""Certificates on PKCS#11 tokens as a certificate store.

With ``--pkcs11-lib MODULE --cert-selector …`` (every token of the module) or
``--cert-store 'pkcs11:token=…'`` (the tokens and objects the URI names), the selector and
the choice policy pick among the certificates on the tokens, just as on Windows or macOS.
That is what a fleet with overlapping renewed certificates on one HSM or smart card needs:
no URI has to change at rotation time.

Everything PKCS#11 goes through the PKCS#11 backend's public entry points
(:meth:`Pkcs11Backend.list_identities` to enumerate, :meth:`Pkcs11Backend.open` to sign
with the chosen certificate's exact URI), so PIN sources, login, ``CKA_ALWAYS_AUTHENTICATE``
handling, key search and the key/certificate proof are the same as with a URI.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .base import CertificateStore, StoreEntry

if TYPE_CHECKING:
    from rasign.options import SignerOptions
    from rasign.signer import Signer


class Pkcs11Store(CertificateStore):
    """The certificates a PKCS#11 URI (default: every token) matches."""

    no_match_message = "no matching certificates"
    """The Go helper's PKCS#11 text (reference-helper.md 8.3)."""

    def __init__(self, options: SignerOptions, uri: str | None) -> None:
        self.options = options
        self.uri = uri or "pkcs11:"
        module = options.pkcs11_lib or "the default PKCS#11 module (p11-kit-proxy)"
        self.description = f"PKCS#11 tokens matching {_without_query(self.uri)} in {module}"

    def _options_for(self, uri: str) -> SignerOptions:
        # Only PKCS#11 inputs travel on: no file or store flags that would re-route.
        return dataclasses.replace(
            self.options,
            certificate=uri,
            private_key=None,
            intermediates=None,
            cert_selector=None,
            cert_store=None,
        )

    def entries(self) -> list[StoreEntry]:
        from rasign.backend import backend_named

        identities = backend_named("pkcs11").list_identities(self._options_for(self.uri))
        query = self.uri.partition("?")[2]
        entries = []
        for identity in identities:
            uri = identity.uri or self.uri
            if query and "?" not in uri:
                uri = f"{uri}?{query}"  # keep the store URI's pin-source/pin-value
            entries.append(
                StoreEntry(
                    identity.certificate,
                    identity.where,
                    uri=identity.uri,
                    has_private_key=identity.has_private_key,
                    handle=uri,
                )
            )
        return entries

    def open_signer(self, entry: StoreEntry) -> Signer:
        from rasign.backend import backend_named

        signer: Signer = backend_named("pkcs11").open(self._options_for(entry.handle))
        return signer


def _without_query(uri: str) -> str:
    """The URI without its query, so a ``pin-value`` never reaches a message."""
    return uri.partition("?")[0]
