"""DN attribute values decode exactly as Go's ``parseASN1String`` does: a value Go refuses is None.

The renderer shows such a value as ``<oid>=#<hex>`` of its original encoding, so the line
between "decoded" and "refused" decides what a Go-compatible selector string looks like.
"""

from __future__ import annotations

import pytest

from rasign.x509names import _go_decode


@pytest.mark.parametrize(
    "tag, body, expected",
    [
        (0x13, b"Acme *&", "Acme *&"),  # PrintableString, with the * and & Go tolerates
        (0x13, b"a@b", None),
        (0x0C, "Zoë".encode(), "Zoë"),  # UTF8String
        (0x0C, b"\xff", None),
        (0x16, b"ops@acme.example", "ops@acme.example"),  # IA5String
        (0x16, "é".encode(), None),
        (0x12, b"12 34", "12 34"),  # NumericString
        (0x12, b"12a", None),
        (0x14, b"\xe9t\xe9", "\udce9t\udce9"),  # T61String: Go keeps the raw bytes
        (0x1E, "é".encode("utf-16-be"), "é"),  # BMPString
        (0x1E, "é".encode("utf-16-be") + b"\x00\x00", "é"),
        (0x1E, b"\x00\xe9\x00", None),
        (0x1C, "é".encode("utf-32-be"), None),  # UniversalString: Go does not read it
    ],
)
def test_values_decode_as_gos_parse_asn1_string(tag: int, body: bytes, expected: str | None) -> None:
    assert _go_decode(tag, body) == expected
