"""Getting a key file's parent into the TPM: a re-created primary or a persistent key.

A key file whose parent is a hierarchy (0x40000001 owner, ...) was wrapped by that
hierarchy's *storage primary key*. Primaries are derived deterministically from the
hierarchy seed and the template, so re-creating one with the exact template that
tpm2-openssl, the TPM2 engines and the Go helper use (the TCG "SRK" template: ECC
NIST P-256, AES-128-CFB, restricted|decrypt|noDA, empty unique) gives back the same key,
and the child blob loads. A file flagged ``rsaParent`` asks for the RSA-2048 variant,
and a TPM without ECC gets the RSA one too, as tpm2-openssl does.

The primary is flushed right after the child is loaded: swtpm has three object slots
and no resource manager, so nothing may be left behind. Importable keys go through
TPM2_Import under the same parent first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .keyfile import (
    ENDORSEMENT_HIERARCHY,
    NULL_HIERARCHY,
    OWNER_HIERARCHY,
    PLATFORM_HIERARCHY,
    TpmKeyFile,
)

if TYPE_CHECKING:
    from tpm2_pytss import ESAPI, ESYS_TR


def srk_template(rsa: bool) -> Any:
    """The storage primary template used by tpm2-openssl (ECC) or its RSA variant."""
    from tpm2_pytss import (
        TPM2_ALG,
        TPM2_ECC,
        TPMA_OBJECT,
        TPMS_ECC_PARMS,
        TPMS_RSA_PARMS,
        TPMT_ECC_SCHEME,
        TPMT_KDF_SCHEME,
        TPMT_PUBLIC,
        TPMT_RSA_SCHEME,
        TPMT_SYM_DEF_OBJECT,
        TPMU_PUBLIC_PARMS,
        TPMU_SYM_KEY_BITS,
        TPMU_SYM_MODE,
    )

    attributes = (
        TPMA_OBJECT.USERWITHAUTH
        | TPMA_OBJECT.RESTRICTED
        | TPMA_OBJECT.DECRYPT
        | TPMA_OBJECT.NODA
        | TPMA_OBJECT.FIXEDTPM
        | TPMA_OBJECT.FIXEDPARENT
        | TPMA_OBJECT.SENSITIVEDATAORIGIN
    )
    symmetric = TPMT_SYM_DEF_OBJECT(
        algorithm=TPM2_ALG.AES, keyBits=TPMU_SYM_KEY_BITS(aes=128), mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB)
    )
    if rsa:
        parameters = TPMU_PUBLIC_PARMS(
            rsaDetail=TPMS_RSA_PARMS(
                symmetric=symmetric, scheme=TPMT_RSA_SCHEME(scheme=TPM2_ALG.NULL), keyBits=2048, exponent=0
            )
        )
        key_type = TPM2_ALG.RSA
    else:
        parameters = TPMU_PUBLIC_PARMS(
            eccDetail=TPMS_ECC_PARMS(
                symmetric=symmetric,
                scheme=TPMT_ECC_SCHEME(scheme=TPM2_ALG.NULL),
                curveID=TPM2_ECC.NIST_P256,
                kdf=TPMT_KDF_SCHEME(scheme=TPM2_ALG.NULL),
            )
        )
        key_type = TPM2_ALG.ECC
    return TPMT_PUBLIC(
        type=key_type, nameAlg=TPM2_ALG.SHA256, objectAttributes=attributes, authPolicy=b"", parameters=parameters
    )


def hierarchy_handle(parent: int) -> ESYS_TR:
    """ESAPI's handle for a hierarchy named by its TPM handle."""
    from tpm2_pytss import ESYS_TR

    return {
        OWNER_HIERARCHY: ESYS_TR.OWNER,
        ENDORSEMENT_HIERARCHY: ESYS_TR.ENDORSEMENT,
        PLATFORM_HIERARCHY: ESYS_TR.PLATFORM,
        NULL_HIERARCHY: ESYS_TR.NULL,
    }[parent]


def tpm_has_ecc(esys: ESAPI) -> bool:
    """Whether the TPM lists TPM_ALG_ECC (some older TPMs are RSA-only)."""
    from tpm2_pytss import TPM2_ALG, TPM2_CAP

    _, data = esys.get_capability(TPM2_CAP.ALGS, TPM2_ALG.ECC, 1)
    algorithms = data.data.algorithms
    return bool(algorithms.count > 0 and algorithms.algProperties[0].alg == TPM2_ALG.ECC)


def open_parent(esys: ESAPI, key: TpmKeyFile, parent_auth: bytes, *, force_rsa: bool = False) -> tuple[ESYS_TR, bool]:
    """The parent as an ESYS_TR, and whether it is transient (must be flushed).

    ``force_rsa`` asks for the RSA storage primary even when the file does not say so.
    """
    from tpm2_pytss import TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

    if key.parent_is_hierarchy:
        hierarchy = hierarchy_handle(key.parent)
        esys.tr_set_auth(hierarchy, parent_auth)
        template = srk_template(rsa=force_rsa or key.rsa_parent or not tpm_has_ecc(esys))
        primary, *_ = esys.create_primary(TPM2B_SENSITIVE_CREATE(), TPM2B_PUBLIC(publicArea=template), hierarchy)
        return primary, True
    parent = esys.tr_from_tpmpublic(key.parent)
    esys.tr_set_auth(parent, parent_auth)
    return parent, False


def describe_parent(key: TpmKeyFile) -> str:
    """Words for messages: 'the owner hierarchy' or 'the parent key 0x81000001'."""
    from .keyfile import HIERARCHIES

    if key.parent in HIERARCHIES:
        return f"the {HIERARCHIES[key.parent]} hierarchy"
    return f"the parent key 0x{key.parent:08x}"


def import_wrapped(esys: ESAPI, parent: ESYS_TR, public: Any, duplicate: Any, secret: bytes) -> Any:
    """TPM2_Import an importable key's duplicate (outer wrapping only) under ``parent``.

    Returns the TPM2B_PRIVATE the TPM re-encrypts for itself, ready for TPM2_Load. The
    file is left as it is: importing again on each load keeps one file usable on the
    one TPM it was wrapped for, without writing key material anywhere.
    """
    from tpm2_pytss import (
        TPM2_ALG,
        TPM2B_DATA,
        TPM2B_ENCRYPTED_SECRET,
        TPMT_SYM_DEF_OBJECT,
    )

    seed, _ = TPM2B_ENCRYPTED_SECRET.unmarshal(secret)
    return esys.import_(parent, TPM2B_DATA(), public, duplicate, seed, TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL))
