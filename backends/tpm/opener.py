"""Assemble a :class:`TpmSigner` from :class:`SignerOptions`, in the order that fails best.

1. The key reference (file or handle) and the key file's content: pure checks, no TPM.
2. The certificate (file or ``pkcs11:`` URI): still no TPM.
3. The TPM: connect, load (parent password checked here), read and vet the public area,
   compare it with the certificate.
4. The key password, only now: nobody is asked for a password of a key that cannot sign.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from rasign.errors import KeyLoadError, UsageError

from . import auth, parse_handle
from . import policy as policy_mod
from .keyfile import holds_tss2_key, read_key_file
from .signer import KeySource, TpmSigner
from .tcti import resolve_tcti

if TYPE_CHECKING:
    from cryptography import x509

    from rasign.options import SignerOptions

TSS2_LOG_DEFAULT = "all+NONE"
"""tpm2-tss logs every TPM error code on stderr by itself; rasign reports them in one line.
Set TSS2_LOG (e.g. ``all+debug``) to see the library's own log."""


def open_tpm_signer(options: SignerOptions) -> TpmSigner:
    """Build and prepare the signer; closes it again if preparing fails."""
    os.environ.setdefault("TSS2_LOG", TSS2_LOG_DEFAULT)
    source = key_source(options)
    certificate, chain = load_certificate(options)
    selection = policy_mod.parse_pcr_selection(options.tpm_pcrs) if options.tpm_pcrs else None
    if selection is not None and source.keyfile is not None:
        raise UsageError(
            "--tpm-pcrs applies to persistent handles only; a key file carries its own policy",
            hint="drop --tpm-pcrs",
        )
    signer = TpmSigner(source, resolve_tcti(options.tpm_tcti), certificate=certificate, chain=chain)
    try:
        signer.prepare_public()
        if source.keyfile is None and (selection is not None or signer.requires_policy()):
            if selection is None:
                raise KeyLoadError(
                    f"the TPM key {source.label} can only be used through a policy",
                    hint="for a key bound to PCRs pass --tpm-pcrs, e.g. --tpm-pcrs sha256:0,7",
                )
            signer.use_pcr_policy(selection)
        signer.check_matches_certificate()
        signer.set_key_auth(
            lambda needs: auth.key_password(
                options, needs_password=needs, from_file=source.keyfile is not None, key=source.label
            )
        )
    except BaseException:
        signer.close()
        raise
    return signer


def key_source(options: SignerOptions) -> KeySource:
    """The key reference from ``--private-key`` (or a combined ``--certificate`` file)."""
    spec = options.private_key or options.certificate
    if not spec:
        raise UsageError("no TPM key given", hint="pass --private-key with a TSS2 key file or handle:0x81...")
    parent_auth = auth.parent_password(options)
    if spec.startswith("handle:"):
        handle = parse_handle(spec)
        return KeySource(label=f"handle:0x{handle:08x}", handle=handle, parent_auth=parent_auth)
    keyfile = read_key_file(spec)
    policy_mod.check_supported(keyfile.policy, spec)
    return KeySource(label=spec, keyfile=keyfile, parent_auth=parent_auth)


def load_certificate(options: SignerOptions) -> tuple[x509.Certificate | None, list[x509.Certificate]]:
    """Leaf and chain from ``--certificate``; (None, []) when there is none.

    Commands that need a certificate (credential-process, serve, update) refuse a
    signer without one with a clear message; sign-string does not need it.
    """
    from rasign.certs import load_chain_bundle, load_leaf_and_chain, normalise_chain

    cert = options.certificate
    if not cert or ((cert == options.private_key or holds_tss2_key(cert)) and not _holds_certificate(cert)):
        if options.intermediates:
            raise UsageError("--intermediates needs --certificate")
        return None, []
    if cert.startswith("pkcs11:"):
        leaf = _certificate_from_pkcs11(options)
        chain = load_chain_bundle(options.intermediates) if options.intermediates else []
        return leaf, normalise_chain(leaf, chain)
    return load_leaf_and_chain(cert, options.intermediates)


def _holds_certificate(path: str) -> bool:
    """A "combo" file (the Go helper accepts them) has the certificate next to the TSS2 key."""
    if not os.path.isfile(path):  # a FIFO or device must not block the sniffing
        return False
    try:
        with open(path, "rb") as handle:
            return b"-----BEGIN CERTIFICATE-----" in handle.read(1 << 20)
    except OSError:
        return False


def _certificate_from_pkcs11(options: SignerOptions) -> Any:
    """Read the certificate object a ``pkcs11:`` URI names (the key stays in the TPM)."""
    from .pkcs11_certificate import certificate_from_pkcs11

    return certificate_from_pkcs11(options)
