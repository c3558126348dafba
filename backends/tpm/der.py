"""DER for TSS2 PRIVATE KEY files: the shared reader from :mod:`rasign.der`, plus a writer.

Why not cryptography's or tpm2-pytss's ASN.1 support: the key format has optional,
explicitly tagged fields ([0] .. [5]) that must be *seen* to be rejected or honoured
(policy, secret, authPolicy), and some producers write the BOOLEAN TRUE as ``01``
instead of DER's ``FF``. A reader that walks TLVs one by one handles both without a
new dependency; this module adds the lenient BOOLEAN and the encoders the tests and
key writers need.
"""

from __future__ import annotations

from rasign.der import DerError, Tlv, decode_oid, encode, read_all, read_tlv
from rasign.der import decode_int as decode_integer

__all__ = [
    "TAG_BOOLEAN",
    "TAG_INTEGER",
    "TAG_OCTET_STRING",
    "TAG_OID",
    "TAG_SEQUENCE",
    "TAG_UTF8",
    "DerError",
    "Tlv",
    "decode_boolean",
    "decode_integer",
    "decode_oid",
    "encode",
    "encode_integer",
    "encode_oid",
    "explicit",
    "read_all",
    "read_tlv",
]

TAG_BOOLEAN = 0x01
TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_UTF8 = 0x0C
TAG_SEQUENCE = 0x30


def decode_boolean(value: bytes) -> bool:
    """BOOLEAN content; any non-zero byte is TRUE (older engines wrote 01, not FF)."""
    if len(value) != 1:
        raise DerError("BOOLEAN must be one byte")
    return value[0] != 0


def encode_integer(number: int) -> bytes:
    """DER INTEGER (minimal two's complement)."""
    size = max(1, (number.bit_length() + 8) // 8)
    return encode(TAG_INTEGER, number.to_bytes(size, "big", signed=True))


def encode_oid(dotted: str) -> bytes:
    """DER OBJECT IDENTIFIER from dotted text."""
    arcs = [int(part) for part in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return encode(TAG_OID, bytes(body))


def explicit(number: int, inner: bytes) -> bytes:
    """Wrap an encoded element in a constructed context tag ``[number] EXPLICIT``."""
    return encode(0xA0 | number, inner)
