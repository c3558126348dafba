"""Make TPM keys the way users do, mostly with tools rasign did not write.

- ``openssl genpkey -provider tpm2`` (tpm2-openssl): RSA, EC P-256, EC with a password
- ``tpm2_createprimary`` / ``tpm2_create`` / ``tpm2_load`` / ``tpm2_evictcontrol``
  (tpm2-tools): persistent handles, a PCR-policy handle, a decrypt-only key encoded with
  ``tpm2_encodeobject``
- tpm2-pytss for what no tool here writes: key files with a PCR policy (with and without
  PolicyAuthValue) and keys under a parent that has a password

tpm2-tools leave transient objects behind when there is no resource manager, so every
tool step is followed by ``tpm2_flushcontext -t`` (when the TPM holds anything to flush).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.tpm.swtpm import Swtpm

SRK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt"


@dataclass
class TpmIdentity:
    """A TPM key reference plus a certificate issued for its public key."""

    key: str
    cert: Path
    public_pem: Path
    password: str | None = None
    extra_args: tuple[str, ...] = ()


def flush_transient(tpm: Swtpm) -> None:
    """Flush what tpm2-tools leave behind: objects, loaded sessions (tpm2_encodeobject
    5.4 leaks one), saved sessions.

    The TPM is asked first (one in-process capability query): when it holds none of the
    three, the three ``tpm2_flushcontext`` processes would have nothing to do.
    """
    if not _holds_contexts(tpm):
        return
    tpm.run_tool("tpm2_flushcontext", "-t")
    tpm.run_tool("tpm2_flushcontext", "-l")
    tpm.run_tool("tpm2_flushcontext", "-s")


def _holds_contexts(tpm: Swtpm) -> bool:
    """Whether the TPM has a transient object, a loaded session or a saved session."""
    from tpm2_pytss import TPM2_CAP, TPM2_HC

    with tpm.esapi() as esys:
        for first in (TPM2_HC.TRANSIENT_FIRST, TPM2_HC.LOADED_SESSION_FIRST, TPM2_HC.ACTIVE_SESSION_FIRST):
            _, data = esys.get_capability(TPM2_CAP.HANDLES, first, 1)
            if data.data.handles.count:
                return True
    return False


def openssl_key(tpm: Swtpm, out: Path, algorithm: str, *, password: str | None = None) -> Path:
    """``openssl genpkey -provider tpm2`` (the key file users get from tpm2-openssl)."""
    args = ["openssl", "genpkey", "-provider", "tpm2", "-algorithm", algorithm]
    args += ["-pkeyopt", "bits:2048"] if algorithm == "RSA" else ["-pkeyopt", "group:P-256"]
    if password:
        args += ["-pkeyopt", f"user-auth:{password}"]
    tpm.run_tool(*args, "-out", str(out))
    flush_transient(tpm)
    return out


def openssl_public_pem(tpm: Swtpm, key: Path, out: Path) -> Path:
    """Public key of a TSS2 file as tpm2-openssl reads it (independent of rasign's parser)."""
    tpm.run_tool(
        "openssl", "pkey", "-provider", "tpm2", "-provider", "default", "-in", str(key), "-pubout", "-out", str(out)
    )
    flush_transient(tpm)
    return out


def tools_primary(tpm: Swtpm, directory: Path) -> Path:
    """The standard ECC storage primary under the owner hierarchy, as a context file."""
    ctx = directory / "primary.ctx"
    tpm.run_tool(
        "tpm2_createprimary",
        "-Q",
        "-C",
        "o",
        "-g",
        "sha256",
        "-G",
        "ecc256:aes128cfb",
        "-a",
        SRK_ATTRIBUTES,
        "-c",
        str(ctx),
    )
    flush_transient(tpm)
    return ctx


def tools_persistent_key(
    tpm: Swtpm,
    directory: Path,
    handle: int,
    algorithm: str,
    *,
    password: str | None = None,
    policy_pcrs: str | None = None,
    attributes: str | None = None,
) -> Path:
    """A child key made with tpm2-tools and made persistent at ``handle``; returns its public PEM."""
    stem = directory / f"h{handle:08x}"
    primary = tools_primary(tpm, directory)
    create = ["tpm2_create", "-Q", "-C", str(primary), "-G", algorithm, "-u", f"{stem}.pub", "-r", f"{stem}.priv"]
    if password:
        create += ["-p", password]
    if policy_pcrs:
        tpm.run_tool("tpm2_createpolicy", "-Q", "--policy-pcr", "-l", policy_pcrs, "-L", f"{stem}.policy")
        flush_transient(tpm)
        create += ["-L", f"{stem}.policy"]
        attributes = attributes or "sign|fixedtpm|fixedparent|sensitivedataorigin"
    if attributes:
        create += ["-a", attributes]
    tpm.run_tool(*create)
    flush_transient(tpm)
    tpm.run_tool("tpm2_load", "-Q", "-C", str(primary), "-u", f"{stem}.pub", "-r", f"{stem}.priv", "-c", f"{stem}.ctx")
    flush_transient(tpm)
    tpm.run_tool("tpm2_evictcontrol", "-Q", "-C", "o", "-c", f"{stem}.ctx", f"0x{handle:08x}")
    flush_transient(tpm)
    public = Path(f"{stem}.pub.pem")
    tpm.run_tool("tpm2_readpublic", "-Q", "-c", f"0x{handle:08x}", "-f", "pem", "-o", str(public))
    flush_transient(tpm)
    return public


def tools_decrypt_only_key(tpm: Swtpm, directory: Path) -> Path:
    """An RSA key without the sign attribute, as a TSS2 file written by tpm2_encodeobject."""
    primary = tools_primary(tpm, directory)
    stem = directory / "decrypt-only"
    tpm.run_tool(
        "tpm2_create",
        "-Q",
        "-C",
        str(primary),
        "-G",
        "rsa2048",
        "-a",
        "decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda",
        "-u",
        f"{stem}.pub",
        "-r",
        f"{stem}.priv",
    )
    flush_transient(tpm)
    out = Path(f"{stem}.pem")
    tpm.run_tool("tpm2_encodeobject", "-C", str(primary), "-u", f"{stem}.pub", "-r", f"{stem}.priv", "-o", str(out))
    flush_transient(tpm)
    return out


def tools_key_file(tpm: Swtpm, directory: Path, stem: str, *, password: str | None = None) -> Path:
    """A P-256 signing key made by tpm2_create and written by tpm2_encodeobject.

    tpm2-tools 5.4 writes emptyAuth the wrong way round (``-p`` gives TRUE), which rasign
    must cope with when the user states the password explicitly.
    """
    primary = tools_primary(tpm, directory)
    base = directory / stem
    create = ["tpm2_create", "-Q", "-C", str(primary), "-G", "ecc256", "-u", f"{base}.pub", "-r", f"{base}.priv"]
    tpm.run_tool(*create, *(["-p", password] if password else []))
    flush_transient(tpm)
    out = Path(f"{base}.pem")
    tpm.run_tool(
        "tpm2_encodeobject",
        "-C",
        str(primary),
        "-u",
        f"{base}.pub",
        "-r",
        f"{base}.priv",
        "-o",
        str(out),
        *(["-p"] if password else []),
    )
    flush_transient(tpm)
    return out


def public_pem_of_key_file(path: Path) -> bytes:
    """Public key of a TSS2 file via tpm2-pytss (for keys tpm2-openssl did not make)."""
    from cryptography.hazmat.primitives import serialization
    from tpm2_pytss import TPM2B_PUBLIC

    from rasign.backends.tpm.keyfile import read_key_file

    public, _ = TPM2B_PUBLIC.unmarshal(read_key_file(str(path)).public)
    key = serialization.load_der_public_key(public.to_der())
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _ecc_sign_template(auth_policy: bytes = b"", user_with_auth: bool = True) -> Any:
    from tpm2_pytss import TPM2B_PUBLIC

    attributes = "sign|fixedtpm|fixedparent|sensitivedataorigin" + ("|userwithauth" if user_with_auth else "")
    template = TPM2B_PUBLIC.parse("ecc256:null", objectAttributes=attributes)
    template.publicArea.authPolicy = auth_policy
    return template


def pytss_policy_key(
    tpm: Swtpm, out: Path, *, pcr: int, with_auth_value: str | None = None, step: int | None = None
) -> Path:
    """A TSS2 key file bound to the current value of one sha256 PCR, plus the password
    through PolicyAuthValue (default) or PolicyPassword (``step=CC_POLICY_PASSWORD``)."""
    import hashlib

    from tpm2_pytss import (
        ESYS_TR,
        TPM2B_PUBLIC,
        TPM2B_SENSITIVE_CREATE,
        TPML_PCR_SELECTION,
    )

    from rasign.backends.tpm import policy
    from rasign.backends.tpm.keyfile import OWNER_HIERARCHY, PolicyCommand, TpmKeyFile
    from rasign.backends.tpm.parent import srk_template

    selection = TPML_PCR_SELECTION.parse(f"sha256:{pcr}")
    with tpm.esapi() as esys:
        _, _, values = esys.pcr_read(selection)
        pcr_digest = hashlib.sha256(b"".join(bytes(values.digests[i]) for i in range(values.count))).digest()
        steps = [policy.pcr_step(selection, pcr_digest)]
        sensitive = TPM2B_SENSITIVE_CREATE()
        if with_auth_value:
            steps.append(PolicyCommand(step or policy.CC_POLICY_AUTH_VALUE))
            sensitive.sensitive.userAuth = with_auth_value.encode()
        digest = policy.policy_digest(esys, steps)
        srk, *_ = esys.create_primary(
            TPM2B_SENSITIVE_CREATE(), TPM2B_PUBLIC(publicArea=srk_template(rsa=False)), ESYS_TR.OWNER
        )
        try:
            private, public, *_ = esys.create(srk, sensitive, _ecc_sign_template(digest, user_with_auth=False))
        finally:
            esys.flush_context(srk)
    key = TpmKeyFile(
        parent=OWNER_HIERARCHY,
        public=public.marshal(),
        private=private.marshal(),
        empty_auth=not with_auth_value,
        policy=steps,
        description="rasign test PCR policy key",
    )
    out.write_bytes(key.to_pem())
    return out


def pytss_key_under_persistent_parent(tpm: Swtpm, out: Path, *, parent_handle: int, parent_password: str) -> Path:
    """A persistent storage parent with a password, and a TSS2 key file under it."""
    from tpm2_pytss import ESYS_TR, TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

    from rasign.backends.tpm.keyfile import TpmKeyFile
    from rasign.backends.tpm.parent import srk_template

    with tpm.esapi() as esys:
        sensitive = TPM2B_SENSITIVE_CREATE()
        sensitive.sensitive.userAuth = parent_password.encode()
        template = srk_template(rsa=False)
        template.objectAttributes &= ~0x400  # DA-protected, like a parent with a real password
        primary, *_ = esys.create_primary(sensitive, TPM2B_PUBLIC(publicArea=template), ESYS_TR.OWNER)
        persistent = esys.evict_control(ESYS_TR.OWNER, primary, parent_handle)
        esys.flush_context(primary)
        esys.tr_set_auth(persistent, parent_password.encode())
        private, public, *_ = esys.create(persistent, TPM2B_SENSITIVE_CREATE(), _ecc_sign_template())
        esys.tr_close(persistent)
    key = TpmKeyFile(parent=parent_handle, public=public.marshal(), private=private.marshal(), empty_auth=True)
    out.write_bytes(key.to_pem())
    return out


def pytss_key_under_owner_password(tpm: Swtpm, out: Path, *, owner_password: str) -> Path:
    """Set an owner hierarchy password, then make a key whose parent is the owner hierarchy."""
    from tpm2_pytss import ESYS_TR
    from tpm2_pytss.tsskey import TSSPrivKey

    with tpm.esapi() as esys:
        key = TSSPrivKey.create_ecc(esys)
        esys.hierarchy_change_auth(ESYS_TR.OWNER, owner_password.encode())
    out.write_bytes(key.to_pem())
    return out


def pytss_importable_key(tpm: Swtpm, out: Path, kind: str = "ec") -> tuple[Path, bytes]:
    """An importable TSS2 key: a software key wrapped for this TPM's standard storage key.

    Returns the key file and the software key's public PEM: signatures the TPM makes after
    importing must verify with it, which proves the import used the right key material.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from tpm2_pytss import (
        ESYS_TR,
        TPM2B_PUBLIC,
        TPM2B_SENSITIVE,
        TPM2B_SENSITIVE_CREATE,
        TPMA_OBJECT,
    )
    from tpm2_pytss.utils import wrap

    from rasign.backends.tpm.keyfile import OWNER_HIERARCHY, TpmKeyFile
    from rasign.backends.tpm.parent import srk_template

    software = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)
    pem = software.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = TPM2B_PUBLIC.from_pem(
        pem, objectAttributes=TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.NODA
    )
    sensitive = TPM2B_SENSITIVE.from_pem(pem)
    with tpm.esapi() as esys:
        srk, srk_public, *_ = esys.create_primary(
            TPM2B_SENSITIVE_CREATE(), TPM2B_PUBLIC(publicArea=srk_template(rsa=False)), ESYS_TR.OWNER
        )
        esys.flush_context(srk)
    _, duplicate, seed = wrap(srk_public.publicArea, public, sensitive)
    key = TpmKeyFile(
        parent=OWNER_HIERARCHY,
        public=public.marshal(),
        private=duplicate.marshal(),
        empty_auth=True,
        importable=True,
        secret=seed.marshal(),
    )
    out.write_bytes(key.to_pem())
    return out, software.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
