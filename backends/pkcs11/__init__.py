"""PKCS#11 backend: keys on smart cards, YubiKey PIV, HSMs (proven on SoftHSM2).

Kept light on purpose: the registry imports this module to reach :class:`Pkcs11Backend`,
and python-pkcs11 and cryptography are imported only when a token is really opened.
The logic lives in ``uri`` (RFC 7512), ``module`` (which .so), ``search`` (slots,
certificates, keys), ``pins`` (PIN policy), ``session`` (login, mechanisms), ``signer``
(long-lived signer with recovery) and ``resolve`` (options to signer). See docs/pkcs11.md.

Modules:

- ``uri``: RFC 7512 ``pkcs11:`` URIs, parsed and formatted so they round-trip;
- ``module``: which PKCS#11 module (``.so``) to load, remembering what was tried;
- ``native``: ``C_Initialize`` with initialisation arguments (NSS softokn, p11-kit ``x-init-reserved``);
- ``quiet``: keeping what modules print on stderr themselves out of rasign's one-line errors;
- ``search``: tokens, certificates and private keys a URI names (PIV attestation certificates skipped);
- ``pins``: where the user PIN and the context-specific PIN come from (a wrong PIN costs a try);
- ``session``: sessions, exactly one ``C_Login`` per PIN, signing mechanisms;
- ``signer``: ``Pkcs11Signer``, one session and key handle kept across signatures, with recovery;
- ``resolve``: from ``--certificate``/``--private-key`` to a ready signer, and listing identities;
- ``ckr``: standard ``CKR_*`` names for return values and python-pkcs11's exceptions.
- ``diagnose``: what ``rasign doctor`` reports (module, token, PIN source), found as ``resolve`` finds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rasign.backend import Backend, Finding

if TYPE_CHECKING:
    from rasign.options import SignerOptions
    from rasign.signer import Identity, Signer


class Pkcs11Backend(Backend):
    """Registry entry point for ``pkcs11:`` URIs in ``--certificate`` / ``--private-key``.

    Long-running modes keep its signer open (one login per process); minting may need a
    PIN or a touch, so ``credential-process`` caches by default.
    """

    name = "pkcs11"
    extra = "pkcs11"
    reopen_each_refresh = False

    @classmethod
    def open(cls, options: SignerOptions) -> Signer:
        """Find the certificate and key, log in once, prove they match; keep the session."""
        from rasign.backends.pkcs11.resolve import open_signer

        with _native_errors("opening the PKCS#11 key"):
            return open_signer(options)

    @classmethod
    def list_identities(cls, options: SignerOptions) -> list[Identity]:
        """Certificates the URI matches, each with its exact ready-to-paste URI."""
        from rasign.backends.pkcs11.resolve import list_identities

        with _native_errors("listing PKCS#11 certificates"):
            return list_identities(options)

    @classmethod
    def claims(cls, options: SignerOptions) -> bool:
        """True when either input is a ``pkcs11:`` URI."""
        from rasign.backends.pkcs11.uri import is_pkcs11_uri

        return is_pkcs11_uri(options.certificate) or is_pkcs11_uri(options.private_key)

    @classmethod
    def needs_human(cls, options: SignerOptions) -> bool:
        """A token may want its PIN (or a touch) at every login."""
        return True

    @classmethod
    def diagnose(cls, options: SignerOptions) -> list[Finding]:
        """Module, token and PIN source as :meth:`open` would find them; no login."""
        from rasign.backends.pkcs11.diagnose import diagnose

        return diagnose(options)


@contextmanager
def _native_errors(doing: str) -> Iterator[None]:
    """Turn an unexpected python-pkcs11 error into a one-line rasign error."""
    try:
        yield
    except Exception as err:
        if type(err).__module__.startswith("pkcs11"):
            from rasign.backends.pkcs11.session import ckr_name
            from rasign.errors import KeyLoadError

            raise KeyLoadError(f"{doing} failed: the token answered {ckr_name(err)}") from err
        raise
