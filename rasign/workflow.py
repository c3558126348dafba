"""The steps every credential path shares: check inputs, open the key, mint a session.

``credential-process``, ``serve``, ``update`` and the Python API all go through here, so
they validate in the same order (cheap local checks first, then the key, then the network)
and fail with the same errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rasign import certs, registry
from rasign.errors import CertificateError
from rasign.logs import get_logger

if TYPE_CHECKING:
    from rasign.credentials import Credentials
    from rasign.options import SessionOptions, SignerOptions
    from rasign.session import PlannedSession
    from rasign.signer import Signer

log = get_logger("workflow")


def open_signer_checked(options: SignerOptions, *, require_certificate: bool = True) -> Signer:
    """Open the signer (``options.backend`` if forced) and refuse a certificate Roles Anywhere would reject.

    Warnings (certificate expiring within seven days) go to the log on stderr.
    """
    signer = registry.open_signer(options)  # checks option types and text first
    try:
        certificate = signer.certificate
        if certificate is None:
            if require_certificate:
                raise CertificateError(
                    "unable to find certificate: the key source has no certificate",
                    hint="pass --certificate with the certificate issued for this key",
                )
        else:
            for warning in certs.preflight(certificate):
                log.warning("%s", warning)
        log.debug("using %s", signer.describe())
    except BaseException:
        signer.close()
        raise
    return signer


def obtain_credentials(signer_options: SignerOptions, session: SessionOptions | PlannedSession) -> Credentials:
    """One complete CreateSession: validate inputs (unless ``session`` is planned already), open the key,
    sign, send, close."""
    from rasign.session import SessionClient, ensure_planned

    planned = ensure_planned(session)
    with open_signer_checked(signer_options) as signer:
        client = SessionClient(signer, planned)
        try:
            return client.create_session()
        finally:
            client.close()
