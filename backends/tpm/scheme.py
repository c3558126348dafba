"""Key types, signing schemes and signature encodings: the TPM2B_PUBLIC side of signing.

Pure functions over a key's public area, kept apart from the signer's connection and
reload logic: which keys can sign for Roles Anywhere, what scheme and digest to hand the
TPM for a requested hash, and how the TPM's signature becomes the wire format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasign.errors import KeyLoadError, SigningError
from rasign.signer import KeyKind, der_from_ecdsa_integers

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

ALG_RSA = 0x0001
ALG_ECC = 0x0023
ALG_NULL = 0x0010
ALG_RSASSA = 0x0014
ALG_ECDSA = 0x0018
HASH_ALGS = {"SHA1": 0x0004, "SHA256": 0x000B, "SHA384": 0x000C, "SHA512": 0x000D}
HASH_BY_SIZE = {20: 0x0004, 32: 0x000B, 48: 0x000C, 64: 0x000D}
HASH_SIZES = {0x0004: 20, 0x000B: 32, 0x000C: 48, 0x000D: 64}
CURVE_BYTES = {0x01: 24, 0x02: 28, 0x03: 32, 0x04: 48, 0x05: 66, 0x10: 32, 0x11: 80, 0x20: 32}
CURVE_NAMES = {
    0x01: "P-192",
    0x02: "P-224",
    0x03: "P-256",
    0x04: "P-384",
    0x05: "P-521",
    0x10: "BN P-256",
    0x11: "BN P-638",
    0x20: "SM2 P-256",
}

ATTR_RESTRICTED = 0x00010000
ATTR_SIGN = 0x00040000
ATTR_USERWITHAUTH = 0x00000040


def fit_ecdsa_digest(digest: bytes, curve_bytes: int, size: int) -> bytes | None:
    """A ``size``-byte value the TPM's ECDSA turns into the same integer z as ``digest``.

    ECDSA uses the leftmost curve-size bytes of a digest (all of it when shorter). The
    TPM checks the digest length against the declared hash and then applies the same
    rule, so: a longer digest is cut to the curve size, then left-padded up to ``size``
    when the TPM keeps all of it, or padded to the curve size and zero-filled on the
    right when the TPM will cut it. None when no such value exists (a digest the TPM
    would have to shorten below the curve size).
    """
    target = digest[:curve_bytes]
    if size <= curve_bytes:
        if len(target) > size:
            return None if any(target[: len(target) - size]) else target[len(target) - size :]
        return bytes(size - len(target)) + target
    return bytes(curve_bytes - len(target)) + target + bytes(size - curve_bytes)


def wire_signature(marshalled: bytes) -> bytes:
    """Roles Anywhere's encoding of a marshalled TPMT_SIGNATURE.

    Layout: sigAlg(2) hash(2) then TPM2B fields: ``sig`` for RSASSA, ``r`` and ``s``
    for ECDSA (which become DER ``SEQUENCE{r, s}``). Parsing the bytes is one C call
    away, far cheaper than walking the cffi structure attribute by attribute.
    """
    algorithm = int.from_bytes(marshalled[0:2], "big")
    first_len = int.from_bytes(marshalled[4:6], "big")
    first = marshalled[6 : 6 + first_len]
    if algorithm == ALG_RSASSA:
        return first
    if algorithm != ALG_ECDSA:
        raise SigningError(f"the TPM returned an unexpected signature algorithm 0x{algorithm:04x}")
    offset = 6 + first_len
    second = marshalled[offset + 2 : offset + 2 + int.from_bytes(marshalled[offset : offset + 2], "big")]
    return der_from_ecdsa_integers(int.from_bytes(first, "big"), int.from_bytes(second, "big"))


def check_public_area(public: Any, label: str) -> tuple[KeyKind, PublicKeyTypes]:
    """Vet a key's TPM2B_PUBLIC for Roles Anywhere signing; return its family and public key."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    area = public.publicArea
    attributes = int(area.objectAttributes)
    if int(area.type) == ALG_RSA:
        kind = KeyKind.RSA
        scheme = int(area.parameters.rsaDetail.scheme.scheme)
        if scheme not in (ALG_NULL, ALG_RSASSA):
            raise KeyLoadError(
                f"the TPM RSA key {label} is fixed to a scheme other than RSASSA-PKCS1-v1_5 (0x{scheme:04x})",
                hint="Roles Anywhere needs PKCS#1 v1.5 signatures; create the key with scheme null or rsassa",
            )
    elif int(area.type) == ALG_ECC:
        kind = KeyKind.EC
        scheme = int(area.parameters.eccDetail.scheme.scheme)
        if scheme not in (ALG_NULL, ALG_ECDSA):
            raise KeyLoadError(f"the TPM EC key {label} is fixed to a scheme other than ECDSA (0x{scheme:04x})")
    else:
        raise KeyLoadError(
            f"unsupported TPM key type 0x{int(area.type):04x} in {label}",
            hint="Roles Anywhere needs an RSA or EC signing key",
        )
    if not attributes & ATTR_SIGN:
        raise KeyLoadError(
            f"the TPM key {label} lacks the sign attribute (it is a decrypt-only key)",
            hint="create a signing key, e.g. tpm2_create -G rsa2048:rsassa or openssl genpkey -provider tpm2",
        )
    if attributes & ATTR_RESTRICTED:
        raise KeyLoadError(
            f"the TPM key {label} is a restricted signing key (an attestation key), which cannot sign external data",
            hint="create an unrestricted signing key",
        )
    try:
        return kind, load_der_public_key(public.to_der())
    except (ValueError, TypeError) as err:
        raise KeyLoadError(f"cannot read the public part of the TPM key {label}: {err}") from err


def signing_plan(public: Any, kind: KeyKind, digest_name: str, label: str) -> tuple[tuple[int, int] | None, int, int]:
    """What to hand the TPM: (curve bytes, digest size) for ECDSA, scheme, hash.

    RSA signs the digest with the requested hash (a key fixed to another hash
    cannot). ECDSA only uses the leftmost curve-size bytes of a digest, so the digest
    is reshaped (see :func:`fit_ecdsa_digest`) to the size of the hash the TPM is
    told: the curve size capped at 64 for keys with a null scheme (the Go helper's
    trick), or the key's own fixed hash. The signature then verifies as the
    requested hash.
    """
    area = public.publicArea
    if kind is KeyKind.RSA:
        wanted = HASH_ALGS[digest_name]
        fixed = (
            int(area.parameters.rsaDetail.scheme.details.anySig.hashAlg)
            if int(area.parameters.rsaDetail.scheme.scheme) == ALG_RSASSA
            else None
        )
        if fixed is not None and fixed != wanted:
            names = {value: name for name, value in HASH_ALGS.items()}
            raise SigningError(
                f"the TPM key {label} is fixed to RSASSA with {names.get(fixed, hex(fixed))}; it cannot sign with {digest_name}",
                hint="use --digest with the key's hash, or create the key with a null scheme",
            )
        return None, ALG_RSASSA, wanted
    curve = int(area.parameters.eccDetail.curveID)
    curve_bytes = CURVE_BYTES.get(curve)
    if curve_bytes is None:
        raise SigningError(f"unsupported curve {CURVE_NAMES.get(curve, hex(curve))} for TPM ECDSA")
    if int(area.parameters.eccDetail.scheme.scheme) == ALG_ECDSA:
        hash_alg = int(area.parameters.eccDetail.scheme.details.anySig.hashAlg)
        size = HASH_SIZES.get(hash_alg, 0)
    else:
        size = min(curve_bytes, 64)
        hash_alg = HASH_BY_SIZE.get(size, 0)
    requested = HASH_SIZES[HASH_ALGS[digest_name]]
    if not hash_alg or fit_ecdsa_digest(b"\xff" * requested, curve_bytes, size) is None:
        raise SigningError(
            f"the TPM EC key {label} ({CURVE_NAMES.get(curve, hex(curve))}, scheme hash size {size}) cannot make a {digest_name} ECDSA signature",
            hint="use --digest SHA256, or create the key with a null scheme",
        )
    return (curve_bytes, size), ALG_ECDSA, hash_alg
