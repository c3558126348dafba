"""ML-DSA private keys from PKCS#8, in every encoding OpenSSL writes.

RFC 9881 allows three shapes for the PKCS#8 ``privateKey`` of ML-DSA-44/65/87:

- ``seed [0] IMPLICIT OCTET STRING (32)``: seed only (what pyca/cryptography writes);
- ``SEQUENCE { seed OCTET STRING (32), expandedKey OCTET STRING }``: "both", OpenSSL
  3.5's default and what the Go helper's fixtures use;
- ``expandedKey OCTET STRING``: expanded only.

pyca/cryptography loads only the first, so rasign extracts the seed itself and builds the
key with ``from_seed_bytes``. The expanded-only form cannot be used: the seed cannot be
recovered from it and cryptography has no way to sign with an expanded key.

For "both", the Go helper ignores the expanded key. rasign checks the parts of it that
follow from the seed without re-implementing ML-DSA (rho and K from SHAKE256(seed || k ||
l), tr = SHAKE256(public key)), so a file whose halves disagree is refused instead of
signing with a key the certificate may not match.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from rasign.backends.pkcs8 import (
    CONTEXT_0_PRIMITIVE,
    OCTET_STRING,
    SEQUENCE,
    DerError,
    expect,
    read_single,
)
from rasign.errors import BackendUnavailable


@dataclass(frozen=True)
class MLDSAParameters:
    """What rasign needs to know about one ML-DSA parameter set."""

    name: str
    class_name: str
    k: int
    l: int  # noqa: E741 - FIPS 204's own name for the parameter
    expanded_key_size: int


MLDSA_BY_OID = {
    "2.16.840.1.101.3.4.3.17": MLDSAParameters("ML-DSA-44", "MLDSA44PrivateKey", 4, 4, 2560),
    "2.16.840.1.101.3.4.3.18": MLDSAParameters("ML-DSA-65", "MLDSA65PrivateKey", 6, 5, 4032),
    "2.16.840.1.101.3.4.3.19": MLDSAParameters("ML-DSA-87", "MLDSA87PrivateKey", 8, 7, 4896),
}

SEED_SIZE = 32


def is_mldsa_oid(oid: str) -> bool:
    """True for the three ML-DSA algorithm OIDs."""
    return oid in MLDSA_BY_OID


def mldsa_key_from_pkcs8_body(oid: str, body: bytes) -> Any:
    """Build a cryptography ML-DSA private key from a PKCS#8 ``privateKey`` content.

    Raises :class:`~rasign.backends.pkcs8.DerError` for malformed or inconsistent contents and
    :class:`BackendUnavailable` when this cryptography build has no ML-DSA.
    """
    params = MLDSA_BY_OID[oid]
    seed, expanded = _split_private_key(params, body)
    key = _key_from_seed(params, seed)
    if expanded is not None:
        _check_expanded_key(params, seed, expanded, key)
    return key


def _split_private_key(params: MLDSAParameters, body: bytes) -> tuple[bytes, bytes | None]:
    item = read_single(body)
    if item.tag == CONTEXT_0_PRIMITIVE:
        seed, expanded = item.content, None
    elif item.tag == SEQUENCE:
        parts = item.children()
        if len(parts) != 2:
            raise DerError(f"{params.name} key: the seed+expandedKey SEQUENCE must have two fields")
        seed = expect(parts[0], OCTET_STRING, f"{params.name} seed").content
        expanded = expect(parts[1], OCTET_STRING, f"{params.name} expandedKey").content
    elif item.tag == OCTET_STRING:
        raise DerError(
            f"{params.name} key holds only the expanded private key, without its seed; rasign needs the"
            " 32-byte seed (re-export it with OpenSSL 3.5+: openssl pkey -provparam"
            " ml-dsa.output_formats=seed-priv or bare-seed)"
        )
    else:
        raise DerError(f"{params.name} key: unknown private key encoding (DER tag 0x{item.tag:02x})")
    if len(seed) != SEED_SIZE:
        raise DerError(f"invalid seed length for {params.name}: got {len(seed)}, want {SEED_SIZE}")
    if expanded is not None and len(expanded) != params.expanded_key_size:
        raise DerError(
            f"invalid expanded key length for {params.name}: got {len(expanded)}, want {params.expanded_key_size}"
        )
    return seed, expanded


def _key_from_seed(params: MLDSAParameters, seed: bytes) -> Any:
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.asymmetric import mldsa
    except ImportError as err:
        raise BackendUnavailable(
            f"this cryptography build has no ML-DSA support, needed for the {params.name} key",
            hint="upgrade cryptography (ML-DSA needs a release built against OpenSSL 3.5 or later)",
        ) from err
    key_class = getattr(mldsa, params.class_name)
    try:
        return key_class.from_seed_bytes(seed)
    except UnsupportedAlgorithm as err:
        raise BackendUnavailable(
            f"this cryptography build cannot use {params.name} keys ({err})",
            hint="install a cryptography wheel built against OpenSSL 3.5 or later",
        ) from err


def _check_expanded_key(params: MLDSAParameters, seed: bytes, expanded: bytes, key: Any) -> None:
    # FIPS 204 KeyGen_internal: (rho, rho', K) = H(seed || k || l, 128 bytes) and the
    # expanded key starts with rho || K || tr, where tr = H(public key, 64 bytes).
    derived = hashlib.shake_256(seed + bytes([params.k, params.l])).digest(128)
    rho, big_k = derived[:32], derived[96:128]
    public = key.public_key().public_bytes_raw()
    tr = hashlib.shake_256(public).digest(64)
    if expanded[:32] != rho or expanded[32:64] != big_k or expanded[64:128] != tr:
        raise DerError(f"{params.name} key is inconsistent: its expanded key does not belong to its seed")
