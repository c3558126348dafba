"""BER-TLV as PIV uses it: 1-3 byte tags, short or 0x81/0x82 long-form lengths."""

from __future__ import annotations


class TlvError(ValueError):
    """The bytes are not well-formed TLV (the card answers 6A80)."""


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0x81, n])
    if n <= 0xFFFF:
        return bytes([0x82, n >> 8, n & 0xFF])
    raise TlvError("TLV value too long")


def encode(tag: int, value: bytes) -> bytes:
    """One TLV; ``tag`` is its big-endian integer form (0x7F49, 0x5FC105 ...)."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + length(len(value)) + value


def decode(data: bytes) -> list[tuple[int, bytes]]:
    """All TLVs at the top level of ``data``, in order."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        start = i
        if data[i] & 0x1F == 0x1F:  # multi-byte tag: continue while the high bit is set
            i += 1
            while i < len(data) and data[i] & 0x80:
                i += 1
        i += 1
        if i >= len(data):
            raise TlvError("truncated TLV tag")
        tag = int.from_bytes(data[start:i], "big")
        first = data[i]
        i += 1
        if first < 0x80:
            size = first
        elif first in (0x81, 0x82):
            count = first - 0x80
            if i + count > len(data):
                raise TlvError("truncated TLV length")
            size = int.from_bytes(data[i : i + count], "big")
            i += count
        else:
            raise TlvError("unsupported TLV length form")
        if i + size > len(data):
            raise TlvError("truncated TLV value")
        out.append((tag, data[i : i + size]))
        i += size
    return out


def as_dict(data: bytes) -> dict[int, bytes]:
    """Top-level TLVs by tag (the last one wins)."""
    return dict(decode(data))
