"""Certificate stores searched by ``--cert-selector`` (issue 6).

Where the selector searches, first rule that applies (docs/stores.md):

1. ``--cert-store pkcs11:…`` -> certificates on the PKCS#11 tokens the URI names
   (module from ``--pkcs11-lib`` or the URI's ``module-path``, else p11-kit's proxy).
2. ``--cert-store DIR`` -> a directory of PEM / PKCS#12 identities.
3. ``--cert-store CurrentUser\\My`` (or ``LocalMachine\\My``, ``Cert:\\LocalMachine\\Root``…)
   on Windows -> that system store.
4. ``--pkcs11-lib MODULE`` -> certificates on every token of that module.
5. Windows -> the system store ``--system-store-name`` (default ``CurrentUser\\MY``).
6. macOS -> the keychain search list.
7. Anywhere else -> the Go helper's ``unable to use cert store signer on linux``, with
   the two flags that make it work.

This module stays light: the registry imports it on every ``--cert-selector`` run, so each
store (and ctypes, pkcs11, cryptography) is imported only when that store is used.

Modules:

- ``base``: the ``CertificateStore`` interface, ``select_entry`` and the signer wrapper every store shares;
- ``selector``: ``--cert-selector`` parsed like the Go helper, matching, the choice among matches
  and unique selectors for listings (store policy; names come from :mod:`rasign.x509names`);
- ``directory``: ``--cert-store DIR``, a directory of PEM and PKCS#12 identities;
- ``pkcs11_store``: the certificates on PKCS#11 tokens as a store (through the ``pkcs11`` backend);
- ``windows``: Windows certificate stores through CryptoAPI and CNG (ctypes only);
- ``macos``: macOS keychain identities through the Security framework (ctypes only);
- ``ctypes_binding``: declaring ctypes function signatures, shared by ``windows`` and ``macos``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from rasign.backend import Backend
from rasign.errors import BackendUnavailable

if TYPE_CHECKING:
    from rasign.options import SignerOptions
    from rasign.signer import Identity, Signer

    from .base import CertificateStore


class StoreBackend(Backend):
    """Backend ``store``: pick an identity with ``--cert-selector`` and sign with its key.

    Kept open across refreshes: a store identity may sit on a token or in a system store
    whose key wants a PIN or a UI prompt at every open.
    """

    name = "store"
    reopen_each_refresh = False

    @classmethod
    def claims(cls, options: SignerOptions) -> bool:
        """``--cert-selector`` (even empty) or ``--cert-store`` was given."""
        return options.cert_selector is not None or bool(options.cert_store)

    @classmethod
    def needs_human(cls, options: SignerOptions) -> bool:
        """A store on PKCS#11 tokens may want a PIN."""
        return bool(options.pkcs11_lib) or (options.cert_store or "").startswith("pkcs11:")

    @classmethod
    def open(cls, options: SignerOptions) -> Signer:
        """Find the one identity the selector means (see the choice policy) and open its key."""
        from .base import select_entry
        from .selector import parse_selector

        selector = parse_selector(options.cert_selector)
        store = open_store(options)
        try:
            entry = select_entry(store, selector, use_latest=options.use_latest_expiring_certificate)
            return store.open_signer(entry)
        finally:
            store.close()

    @classmethod
    def list_identities(cls, options: SignerOptions) -> list[Identity]:
        """Every identity the selector matches, each with a selector that picks it alone."""
        from rasign.signer import Identity

        from .selector import SelectorIndex, parse_selector

        selector = parse_selector(options.cert_selector)
        store = open_store(options)
        try:
            entries = store.entries()
        finally:
            store.close()
        population = [entry.certificate for entry in entries if entry.has_private_key] or [
            e.certificate for e in entries
        ]
        index = SelectorIndex(population)
        return [
            Identity(
                certificate=entry.certificate,
                where=entry.where,
                uri=entry.uri,
                selector=index.unique(entry.certificate),
                has_private_key=entry.has_private_key,
            )
            for entry in entries
            if selector.matches(entry.certificate)
        ]


def open_store(options: SignerOptions, *, platform: str | None = None) -> CertificateStore:
    """The store ``options`` point at, by the rules in the module docstring."""
    platform = platform or sys.platform
    spec = options.cert_store
    if spec:
        if spec.startswith("pkcs11:"):
            from .pkcs11_store import Pkcs11Store

            return Pkcs11Store(options, uri=spec)
        if platform == "win32" and not os.path.isdir(spec):
            from .windows import looks_like_store_path

            if looks_like_store_path(spec):
                from .windows import WindowsStore

                return WindowsStore.from_name(spec)
        from .directory import DirectoryStore

        return DirectoryStore(spec, options)
    if options.pkcs11_lib:
        from .pkcs11_store import Pkcs11Store

        return Pkcs11Store(options, uri=None)
    if platform == "win32":
        from .windows import WindowsStore

        return WindowsStore.from_name(options.system_store_name or "MY")
    if platform == "darwin":
        from .macos import KeychainStore

        return KeychainStore()
    raise BackendUnavailable(
        "unable to use cert store signer on linux",
        hint="on this platform --cert-selector searches --cert-store DIR (a directory of PEM/PKCS#12 identities),"
        " --cert-store with a pkcs11: URI, or every token of --pkcs11-lib MODULE",
    )
