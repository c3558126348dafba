"""A TPM key's certificate kept on a PKCS#11 token (``--certificate pkcs11:...``).

The certificate is public, so it may live anywhere; some sites keep it on a token next
to other identities. The PKCS#11 backend already knows how to find certificates by
URI, so it is asked through the backend contract's ``list_identities`` instead of
repeating its search here.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from rasign.errors import KeyLoadError

if TYPE_CHECKING:
    from cryptography import x509

    from rasign.options import SignerOptions


def certificate_from_pkcs11(options: SignerOptions) -> x509.Certificate:
    """The one certificate the ``--certificate`` URI names."""
    from rasign.backend import backend_named

    query = dataclasses.replace(options, private_key=None)
    identities = backend_named("pkcs11").list_identities(query)
    if not identities:
        raise KeyLoadError(
            f"no certificate matches {options.certificate}", hint="check the URI with p11tool --list-all-certs"
        )
    if len(identities) > 1:
        raise KeyLoadError(
            f"{len(identities)} certificates match {options.certificate}",
            hint="add object= or id= to the URI so that it names one certificate",
        )
    return identities[0].certificate
