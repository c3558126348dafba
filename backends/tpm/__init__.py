"""TPM 2.0 key backend: TSS2 PRIVATE KEY files and persistent ``handle:0x81...`` keys.

This module stays light (no tpm2-pytss or cryptography import at the top) so that
choosing the backend costs nothing until it is used. See docs/tpm.md for the user
guide; the pieces live in:

- ``opener``: builds a signer from options, in the order that fails best
- ``keyfile`` (+ ``der``): the TSS2 key file format, checked before the TPM is touched
- ``tcti`` (+ ``rawsocket``): which TPM to talk to (``--tpm-tcti``, ``TPM_DEVICE``, TCTI variables)
- ``auth``: key and parent passwords (flag, environment, /dev/tty prompt)
- ``policy``: PCR / PolicyAuthValue / PolicyPassword / PolicyCommandCode sessions
- ``parent``: the standard storage primary re-created under a hierarchy
- ``scheme``: which keys can sign, scheme and digest per hash, wire signature encoding
- ``signer``: ``TpmSigner`` (load, sign, reload after a TPM reset, flush)
- ``tpm_errors``: TPM response codes to rasign errors
- ``pkcs11_certificate``: the certificate from a PKCS#11 token
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rasign.backend import Backend
from rasign.errors import UsageError

if TYPE_CHECKING:
    from rasign.options import SignerOptions

    from .signer import TpmSigner

__all__ = ["TpmBackend", "parse_handle"]


def parse_handle(spec: str) -> int:
    """``handle:0x81000101`` or ``handle:81000101`` to the integer handle."""
    parts = spec.split(":")
    if len(parts) != 2 or parts[0] != "handle":
        raise UsageError(f"invalid TPM handle format {spec!r}", hint="use handle:0x81000101")
    text = parts[1].strip()
    try:
        value = int(text[2:] if text.lower().startswith("0x") else text, 16)
    except ValueError as err:
        raise UsageError(f"invalid hex TPM handle value {text!r}", hint="use handle:0x81000101") from err
    if not 0x81000000 <= value <= 0x81FFFFFF:
        raise UsageError(
            f"TPM handle 0x{value:08x} is not a persistent key handle",
            hint="persistent keys live at 0x81000000-0x81FFFFFF (see tpm2_getcap handles-persistent)",
        )
    return value


class TpmBackend(Backend):
    """Registry entry: ``open(options)`` returns a ready :class:`TpmSigner`.

    Long-running modes keep the key loaded; a key with an auth value needs its password.
    """

    name = "tpm"
    extra = "tpm"
    reopen_each_refresh = False

    @classmethod
    def claims(cls, options: SignerOptions) -> bool:
        """``handle:`` in ``--private-key``, or a TSS2 key file as key (or combined certificate)."""
        from .keyfile import holds_tss2_key

        key = options.private_key or ""
        if key.startswith("handle:"):
            return True
        return holds_tss2_key(key or options.certificate or "")

    @classmethod
    def needs_human(cls, options: SignerOptions) -> bool:
        """True unless the key is known to have no password (emptyAuth, or --no-tpm-key-password)."""
        from .keyfile import key_needs_password

        if options.no_tpm_key_password:
            return False
        key = options.private_key or ""
        if key.startswith("handle:") or options.tpm_key_password:
            return True
        return bool(key) and key_needs_password(key)

    @classmethod
    def open(cls, options: SignerOptions) -> TpmSigner:
        """Build the signer, failing early on key file, certificate, TPM or password problems."""
        from rasign.backend import require_module

        require_module(
            "tpm2_pytss", "tpm", extra="tpm", system_hint="it needs the tpm2-tss libraries (Debian: libtss2-dev)"
        )
        from .opener import open_tpm_signer

        return open_tpm_signer(options)
