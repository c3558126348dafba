"""A tiny DER reader and writer, just enough for TSS2 PRIVATE KEY files.

Why not cryptography's or tpm2-pytss's ASN.1 support: the key format has optional,
explicitly tagged fields ([0] .. [5]) that must be *seen* to be rejected or honoured
(policy, secret, authPolicy), and some producers write the BOOLEAN TRUE as ``01``
instead of DER's ``FF``. A reader that walks TLVs one by one handles both without a
new dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

TAG_BOOLEAN = 0x01
TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_UTF8 = 0x0C
TAG_SEQUENCE = 0x30


class DerError(ValueError):
    """The bytes are not the DER this reader expects."""


@dataclass(frozen=True)
class Tlv:
    """One tag-length-value element; ``value`` is the content octets."""

    tag: int
    value: bytes

    @property
    def context_number(self) -> int | None:
        """N for a constructed context-specific tag ``[N]``, else None."""
        if self.tag & 0xE0 == 0xA0:
            return self.tag & 0x1F
        return None


def read_tlv(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Read one element at ``offset``; return it and the offset just after it."""
    if offset + 2 > len(data):
        raise DerError("truncated element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used by this format")
    length = data[offset + 1]
    pos = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DerError("bad length encoding")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("element runs past the end of the data")
    return Tlv(tag, bytes(data[pos:end])), end


def read_all(data: bytes) -> list[Tlv]:
    """Every element of a constructed value's content, in order."""
    items = []
    offset = 0
    while offset < len(data):
        item, offset = read_tlv(data, offset)
        items.append(item)
    return items


def decode_oid(value: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's content octets."""
    if not value:
        raise DerError("empty OBJECT IDENTIFIER")
    arcs: list[int] = []
    current = 0
    for byte in value:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(current)
            current = 0
    if value[-1] & 0x80:
        raise DerError("truncated OBJECT IDENTIFIER")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def decode_integer(value: bytes) -> int:
    """Value of an INTEGER's content octets (two's complement, big-endian)."""
    if not value:
        raise DerError("empty INTEGER")
    return int.from_bytes(value, "big", signed=True)


def decode_boolean(value: bytes) -> bool:
    """BOOLEAN content; any non-zero byte is TRUE (older engines wrote 01, not FF)."""
    if len(value) != 1:
        raise DerError("BOOLEAN must be one byte")
    return value[0] != 0


def encode(tag: int, value: bytes) -> bytes:
    """One DER element."""
    length = len(value)
    if length < 0x80:
        header = bytes([tag, length])
    else:
        raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
        header = bytes([tag, 0x80 | len(raw)]) + raw
    return header + value


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
