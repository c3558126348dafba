"""The one DER reader rasign uses: definite lengths, single-byte tags.

Key files (PKCS#8, encrypted PKCS#8), TSS2 PRIVATE KEY files and certificate Names all
need only this much of DER, and each caller has reasons not to lean on a full ASN.1
library (optional tagged fields that must be seen, producers that bend DER, and the
credential-process path, which must not import cryptography). Standard library only.

Malformed input raises :class:`DerError`, a ``ValueError``; callers turn it into their
own error (``KeyLoadError`` naming the file, for instance).
"""

from __future__ import annotations

from dataclasses import dataclass


class DerError(ValueError):
    """The bytes are not the DER the caller expects."""


@dataclass(frozen=True)
class Tlv:
    """One DER element: its tag byte and its content octets."""

    tag: int
    content: bytes

    def children(self) -> list[Tlv]:
        """The elements inside a constructed value, in order."""
        return read_all(self.content)

    @property
    def context_number(self) -> int | None:
        """N for a constructed context-specific tag ``[N]``, else None."""
        if self.tag & 0xE0 == 0xA0:
            return self.tag & 0x1F
        return None


def read_tlv(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Read one element at ``offset``; return it and the offset just after it."""
    if offset + 2 > len(data):
        raise DerError("truncated DER element")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte DER tags are not supported")
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DerError("indefinite or oversized DER length")
        if pos + count > len(data):
            raise DerError("truncated DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError(f"DER element claims {length} bytes but only {len(data) - pos} remain")
    return Tlv(tag, bytes(data[pos:end])), end


def read_all(data: bytes) -> list[Tlv]:
    """Every element in ``data``, which must hold nothing else."""
    items = []
    offset = 0
    while offset < len(data):
        item, offset = read_tlv(data, offset)
        items.append(item)
    return items


def read_single(data: bytes) -> Tlv:
    """Exactly one element filling ``data`` (trailing bytes are an error)."""
    item, end = read_tlv(data)
    if end != len(data):
        raise DerError(f"{len(data) - end} unexpected bytes after the DER structure")
    return item


def expect(item: Tlv, tag: int, what: str) -> Tlv:
    """Return ``item`` if it has ``tag``, else raise naming the field."""
    if item.tag != tag:
        raise DerError(f"{what}: expected DER tag 0x{tag:02x}, found 0x{item.tag:02x}")
    return item


def decode_oid(content: bytes) -> str:
    """Dotted text of an OBJECT IDENTIFIER's content octets."""
    if not content:
        raise DerError("empty OBJECT IDENTIFIER")
    if content[-1] & 0x80:
        raise DerError("truncated OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def decode_int(content: bytes) -> int:
    """Value of an INTEGER's content octets (two's complement, big-endian)."""
    if not content:
        raise DerError("empty INTEGER")
    return int.from_bytes(content, "big", signed=True)


def encode(tag: int, content: bytes) -> bytes:
    """One DER element (single-byte tag, definite minimal length)."""
    length = len(content)
    if length < 0x80:
        header = bytes([tag, length])
    else:
        raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
        header = bytes([tag, 0x80 | len(raw)]) + raw
    return header + content
