"""X.509 names: read them from the DER, render them as Go does, compare them leniently.

Why a module of its own: Go's ``pkix.Name.String()`` rendering is what the Go helper's
selectors and listings use, so both the certificate-store backend (matching
``--cert-selector``) and ``read-certificate-data`` (printing subjects) need the same
rendering, and the store's lenient comparison (``cn=web,o=acme`` picks the certificate
whose Go rendering is ``CN=web,O=Acme``) needs the same decoding. Names are read from the
certificate's own DER with a tiny parser because Go's rendering depends on each value's
ASN.1 string type, which ``cryptography``'s decoded names hide.

:func:`names_of` decodes and normalises a certificate's names once and remembers the
result, so a store of thousands of identities is matched and listed in linear time.

Only the standard library and ``cryptography`` are used.
"""

from __future__ import annotations

import collections
import datetime as _dt
import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rasign.der import decode_oid
from rasign.der import encode as encode_der_element
from rasign.der import read_tlv as read_der_element

if TYPE_CHECKING:
    from cryptography import x509

NormalName = frozenset[tuple[tuple[str, str], int]]
"""A DN as a multiset of (attribute OID, folded value), frozen so it can be a dict key."""

_GO_NAMES = {
    "2.5.4.6": "C",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.3": "CN",
    "2.5.4.5": "SERIALNUMBER",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.17": "POSTALCODE",
}
"""The attribute types Go names; every other type prints as ``<oid>=#<hex DER>``."""

# Order in which Go's ToRDNSequence emits the named fields; printed in reverse.
_GO_FIELD_ORDER = ("2.5.4.6", "2.5.4.8", "2.5.4.7", "2.5.4.9", "2.5.4.17", "2.5.4.10", "2.5.4.11", "2.5.4.3", "2.5.4.5")
_GO_SINGLE = {"2.5.4.3", "2.5.4.5"}  # CN and SERIALNUMBER: the last value wins

ATTRIBUTE_NAMES: dict[str, str] = {
    "CN": "2.5.4.3",
    "COMMONNAME": "2.5.4.3",
    "SN": "2.5.4.4",
    "SURNAME": "2.5.4.4",
    "SERIALNUMBER": "2.5.4.5",
    "DEVICESERIALNUMBER": "2.5.4.5",
    "C": "2.5.4.6",
    "COUNTRYNAME": "2.5.4.6",
    "L": "2.5.4.7",
    "LOCALITYNAME": "2.5.4.7",
    "ST": "2.5.4.8",
    "S": "2.5.4.8",
    "STATEORPROVINCENAME": "2.5.4.8",
    "STREET": "2.5.4.9",
    "STREETADDRESS": "2.5.4.9",
    "O": "2.5.4.10",
    "ORGANIZATIONNAME": "2.5.4.10",
    "OU": "2.5.4.11",
    "ORGANIZATIONALUNITNAME": "2.5.4.11",
    "T": "2.5.4.12",
    "TITLE": "2.5.4.12",
    "POSTALCODE": "2.5.4.17",
    "G": "2.5.4.42",
    "GN": "2.5.4.42",
    "GIVENNAME": "2.5.4.42",
    "I": "2.5.4.43",
    "INITIALS": "2.5.4.43",
    "GENERATIONQUALIFIER": "2.5.4.44",
    "DNQUALIFIER": "2.5.4.46",
    "PSEUDONYM": "2.5.4.65",
    "ORGANIZATIONIDENTIFIER": "2.5.4.97",
    "E": "1.2.840.113549.1.9.1",
    "EMAIL": "1.2.840.113549.1.9.1",
    "EMAILADDRESS": "1.2.840.113549.1.9.1",
    "DC": "0.9.2342.19200300.100.1.25",
    "DOMAINCOMPONENT": "0.9.2342.19200300.100.1.25",
    "UID": "0.9.2342.19200300.100.1.1",
    "USERID": "0.9.2342.19200300.100.1.1",
}
"""Attribute type names accepted in lenient DNs (RFC 4514, OpenSSL, Windows spellings)."""

# ASN.1 universal tags of the string types Go's parser accepts.
_UTF8, _NUMERIC, _PRINTABLE, _T61, _IA5, _BMP, _UNIVERSAL = 0x0C, 0x12, 0x13, 0x14, 0x16, 0x1E, 0x1C
_PRINTABLE_EXTRA = set(" '()+,-./:=?")


@dataclass(frozen=True)
class Attribute:
    """One attribute of a DN as read from the DER."""

    oid: str
    tag: int
    raw: bytes
    """The value's content octets (without tag and length)."""
    value: str | None
    """The value as Go's parser decodes it, or None when Go would reject it."""


def dn_attributes(name_der: bytes) -> list[list[Attribute]]:
    """The RDNs of a DER ``Name``, each a list of attributes, in certificate order."""
    reader = _Der(name_der)
    tag, body = reader.read()
    if tag != 0x30:
        raise ValueError("Name is not a SEQUENCE")
    rdns = []
    seq = _Der(body)
    while not seq.done:
        tag, rdn_body = seq.read()
        if tag != 0x31:
            raise ValueError("RDN is not a SET")
        rdn = []
        atvs = _Der(rdn_body)
        while not atvs.done:
            tag, atv_body = atvs.read()
            if tag != 0x30:
                raise ValueError("AttributeTypeAndValue is not a SEQUENCE")
            inner = _Der(atv_body)
            oid_tag, oid_body = inner.read()
            if oid_tag != 0x06:
                raise ValueError("attribute type is not an OID")
            value_tag, value_body = inner.read()
            oid = decode_oid(oid_body)
            rdn.append(Attribute(oid, value_tag, value_body, _go_decode(value_tag, value_body)))
        rdns.append(rdn)
    return rdns


def go_dn_string(name_der: bytes) -> str:
    """Render a DER ``Name`` exactly as Go's ``pkix.Name.String()`` does (reference 10.1).

    Named types come first in Go's canonical order (SERIALNUMBER, CN, OU, O, POSTALCODE,
    STREET, L, ST, C), several values of one type joined by ``+``; every other attribute
    follows in reverse certificate order as ``<oid>=#<hex>`` of its value re-encoded the
    way Go's asn1.Marshal encodes a string. A value Go's parser would reject (an ASN.1
    type it does not read) is shown as ``<oid>=#<hex>`` of the original encoding.
    """
    return _go_render(dn_attributes(name_der))


def _go_render(rdns: list[list[Attribute]]) -> str:
    fields: dict[str, list[str]] = {}
    others: list[Attribute] = []
    for rdn in rdns:
        for attribute in rdn:
            if attribute.oid in _GO_NAMES and attribute.value is not None:
                if attribute.oid in _GO_SINGLE:
                    fields[attribute.oid] = [attribute.value]
                else:
                    fields.setdefault(attribute.oid, []).append(attribute.value)
            elif attribute.oid not in _GO_NAMES:
                others.append(attribute)
    sequence: list[list[str]] = [[_go_other(attribute)] for attribute in others]
    for oid in _GO_FIELD_ORDER:
        values = [value for value in fields.get(oid, []) if value or oid not in _GO_SINGLE]
        if values:
            sequence.append([f"{_GO_NAMES[oid]}={go_escape(value)}" for value in values])
    return ",".join("+".join(rdn) for rdn in reversed(sequence))


def go_escape(value: str) -> str:
    """Go's DN value escaping: ``,+"\\<>;`` always, ``#`` first, space first or last."""
    out = []
    last = len(value.encode("utf-8", "surrogateescape")) - 1
    offset = 0
    for char in value:
        escape = char in ',+"\\<>;' or (char == "#" and offset == 0) or (char == " " and offset in (0, last))
        out.append("\\" + char if escape else char)
        offset += len(char.encode("utf-8", "surrogateescape"))
    return "".join(out)


def normalised_dn(name_der: bytes) -> collections.Counter[tuple[str, str]]:
    """A certificate DN as a multiset of (OID, folded value), blind to order and case."""
    return _normalise(dn_attributes(name_der))


def _normalise(rdns: list[list[Attribute]]) -> collections.Counter[tuple[str, str]]:
    counter: collections.Counter[tuple[str, str]] = collections.Counter()
    for rdn in rdns:
        for attribute in rdn:
            value = attribute.value if attribute.value is not None else _lenient_decode(attribute)
            counter[(attribute.oid, fold(value))] += 1
    return counter


def parse_dn_text(text: str) -> collections.Counter[tuple[str, str]] | None:
    """Parse a user-written DN leniently; None when it is not a DN at all.

    Accepts RFC 4514/2253 (``CN=a,O=b``, any spacing, ``+`` for multi-valued RDNs,
    backslash escapes including ``\\c3\\a9``, ``"quoted"`` values, ``<oid>=#<hex>``),
    Windows spellings (``S=``, ``E=``, ``OID.2.5.4.3=``, ``;`` separators) and OpenSSL's
    ``/C=US/O=b/CN=a``.
    """
    stripped = text.strip()
    if stripped.startswith("/") and "=" in stripped:
        parts = [part for part in re.split(r"(?<!\\)/", stripped[1:]) if part]
        items = []
        for part in parts:
            for piece in re.split(r"(?<!\\)\+", part):
                if "=" not in piece:
                    return None
                kind, _, value = piece.partition("=")
                items.append((kind, value.replace("\\/", "/").replace("\\+", "+"), False))
    else:
        items_or_none = _split_rfc4514(stripped)
        if items_or_none is None:
            return None
        items = items_or_none
    counter: collections.Counter[tuple[str, str]] = collections.Counter()
    for kind, value, is_hex in items:
        oid = _attribute_oid(kind)
        if oid is None:
            return None
        if is_hex:
            decoded = _decode_hex_value(value)
            if decoded is None:
                return None
            value = decoded
        counter[(oid, fold(value))] += 1
    return counter if counter else None


def dn_matches(wanted: str, name_der: bytes) -> bool:
    """True when ``wanted`` equals Go's rendering of the DN, or names the same attributes."""
    return name_matches(wanted, go_dn_string(name_der), frozen_name(normalised_dn(name_der)))


def name_matches(wanted: str, go_string: str, normal: NormalName) -> bool:
    """:func:`dn_matches` for a name already rendered and normalised (see :class:`CertNames`)."""
    if wanted == go_string:
        return True
    parsed = parsed_dn(wanted)
    return parsed is not None and parsed == normal


@functools.lru_cache(maxsize=256)
def parsed_dn(text: str) -> NormalName | None:
    """The user's DN parsed once per process (a store compares it with every certificate)."""
    parsed = parse_dn_text(text)
    return None if parsed is None else frozen_name(parsed)


def frozen_name(counter: collections.Counter[tuple[str, str]]) -> NormalName:
    """The hashable form of a normalised name."""
    return frozenset(counter.items())


# RFC 4514 tokenizer: ``type=value`` items separated by ``,``, ``;`` or ``+``.
_SEPARATORS = ",;+"
_BLANKS = " \t"
_HEX = frozenset("0123456789abcdefABCDEF")


def _split_rfc4514(text: str) -> list[tuple[str, str, bool]] | None:
    """Tokenise ``type=value`` items; None on anything that is not a DN."""
    items: list[tuple[str, str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        kind, i = _read_kind(text, _skip_blanks(text, i))
        if kind is None:
            return None
        value, is_hex, i = _read_value(text, _skip_blanks(text, i))
        if value is None:
            return None
        items.append((kind, value, is_hex))
        if i < n:
            if text[i] not in _SEPARATORS or i + 1 >= n:
                return None  # junk after a value, or a trailing separator
            i += 1
    return items


def _skip_blanks(text: str, i: int) -> int:
    while i < len(text) and text[i] in _BLANKS:
        i += 1
    return i


def _read_kind(text: str, i: int) -> tuple[str | None, int]:
    """The attribute type up to ``=``; returns the index after the ``=``."""
    end = text.find("=", i)
    if end == -1 or any(c in _SEPARATORS for c in text[i:end]):
        return None, i
    return text[i:end].strip(), end + 1


def _read_value(text: str, i: int) -> tuple[str | None, bool, int]:
    """One value: ``#hex``, ``"quoted"`` or plain with backslash escapes."""
    if i < len(text) and text[i] == "#":
        end = _next_separator(text, i + 1)
        return text[i + 1 : end].strip(), True, end
    if i < len(text) and text[i] == '"':
        return _read_quoted(text, i + 1)
    value, end = _read_plain(text, i)
    return value, False, end


def _next_separator(text: str, i: int) -> int:
    while i < len(text) and text[i] not in _SEPARATORS:
        i += 1
    return i


def _read_quoted(text: str, i: int) -> tuple[str | None, bool, int]:
    out = bytearray()
    while i < len(text) and text[i] != '"':
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out += text[i].encode("utf-8", "surrogateescape")
        i += 1
    if i >= len(text):
        return None, False, i  # no closing quote
    return out.decode("utf-8", "surrogateescape"), False, _skip_blanks(text, i + 1)


def _read_plain(text: str, i: int) -> tuple[str, int]:
    out = bytearray()
    while i < len(text) and text[i] not in _SEPARATORS:
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            pair = text[i + 1 : i + 3]
            if len(pair) == 2 and all(c in _HEX for c in pair):
                out.append(int(pair, 16))  # \c3\a9: a UTF-8 byte
                i += 3
            else:
                out += text[i + 1].encode("utf-8", "surrogateescape")
                i += 2
            continue
        out += char.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "surrogateescape"), i


def _attribute_oid(kind: str) -> str | None:
    upper = kind.strip().upper()
    upper = upper.removeprefix("OID.")
    if re.fullmatch(r"[0-2](\.[0-9]+)+", upper):
        return upper
    return ATTRIBUTE_NAMES.get(upper)


def _decode_hex_value(hex_text: str) -> str | None:
    try:
        der = bytes.fromhex(hex_text)
        tag, body = _Der(der).read()
    except ValueError:
        return None
    value = _go_decode(tag, body)
    return value if value is not None else _lenient_decode(Attribute("", tag, body, None))


def fold(value: str) -> str:
    """Case-folded, NFKC-normalised, whitespace-collapsed form for lenient comparison."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _go_decode(tag: int, body: bytes) -> str | None:
    """Decode a value as Go's ``parseASN1String`` does; None where Go fails."""
    decoder = _GO_DECODERS.get(tag)
    if decoder is None:
        return None
    try:
        return decoder(body)
    except UnicodeDecodeError:
        return None


def _go_printable(body: bytes) -> str | None:
    """PrintableString, with the ``*`` and ``&`` Go accepts for real-world certificates."""
    text = body.decode("ascii")
    if not all(c.isascii() and (c.isalnum() or c in _PRINTABLE_EXTRA or c in "*&") for c in text):
        return None
    return text


def _go_numeric(body: bytes) -> str | None:
    text = body.decode("ascii")
    return text if all(c.isdigit() or c == " " for c in text) else None


def _go_bmp(body: bytes) -> str | None:
    """BMPString: UTF-16BE of whole code units, one trailing NUL pair dropped as Go does."""
    if len(body) % 2:
        return None
    if len(body) >= 2 and body[-2:] == b"\x00\x00":
        body = body[:-2]
    return body.decode("utf-16-be", "replace")


_GO_DECODERS: dict[int, Callable[[bytes], str | None]] = {
    _PRINTABLE: _go_printable,
    _UTF8: lambda body: body.decode("utf-8"),
    _IA5: lambda body: body.decode("ascii"),
    _NUMERIC: _go_numeric,
    _T61: lambda body: body.decode("utf-8", "surrogateescape"),  # Go keeps the raw bytes
    _BMP: _go_bmp,
}
"""Go's string types by DER tag; any other tag is one Go refuses."""


def _lenient_decode(attribute: Attribute) -> str:
    """Best-effort text for a value Go cannot read (UniversalString, odd encodings)."""
    if attribute.tag == _UNIVERSAL and len(attribute.raw) % 4 == 0:
        return attribute.raw.decode("utf-32-be", "replace")
    return attribute.raw.decode("utf-8", "replace")


def _go_other(attribute: Attribute) -> str:
    """Go's ``<oid>=#<hex>`` for an attribute type it has no name for."""
    if attribute.value is None:
        return f"{attribute.oid}=#{encode_der_element(attribute.tag, attribute.raw).hex()}"
    try:
        encoded = attribute.value.encode("utf-8")
    except UnicodeEncodeError:
        # Invalid UTF-8 (a raw T61String): Go's asn1.Marshal fails, so it prints the OID
        # and the escaped text instead of hex.
        return f"{attribute.oid}={go_escape(attribute.value)}"
    printable = all(c.isascii() and (c.isalnum() or c in _PRINTABLE_EXTRA) for c in attribute.value)
    return f"{attribute.oid}=#{encode_der_element(_PRINTABLE if printable else _UTF8, encoded).hex()}"


class _Der:
    """A cursor over consecutive DER elements (the reader itself is :mod:`rasign.der`)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> tuple[int, bytes]:
        start = self.pos
        try:
            return self.read()
        finally:
            self.pos = start

    def read_tlv(self) -> bytes:
        start = self.pos
        self.read()
        return self.data[start : self.pos]

    def read(self) -> tuple[int, bytes]:
        item, self.pos = read_der_element(self.data, self.pos)
        return item.tag, item.content


def cert_der(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.DER)


def subject_der(cert: x509.Certificate) -> bytes:
    return tbs_names(cert)[1]


def issuer_der(cert: x509.Certificate) -> bytes:
    return tbs_names(cert)[0]


def tbs_names(cert: x509.Certificate) -> tuple[bytes, bytes]:
    """(issuer, subject) Name DER exactly as encoded in the certificate.

    Re-encoding ``cert.subject`` could normalise string types or warn about values
    ``cryptography`` considers invalid; Go renders what is in the certificate.
    """
    tbs = _Der(cert.tbs_certificate_bytes)
    _, body = tbs.read()
    fields = _Der(body)
    tag, _ = fields.peek()
    if tag == 0xA0:  # [0] version
        fields.read()
    fields.read()  # serialNumber
    fields.read()  # signature AlgorithmIdentifier
    issuer = fields.read_tlv()
    fields.read()  # validity
    subject = fields.read_tlv()
    return issuer, subject


def subject_string(cert: x509.Certificate) -> str:
    """Go's rendering of the subject (what selectors and listings use)."""
    return go_dn_string(subject_der(cert))


@dataclass(frozen=True)
class CertNames:
    """Everything a selector compares, decoded once per certificate."""

    der: bytes
    subject: str
    """Go's rendering of the subject."""
    issuer: str
    subject_normal: NormalName
    issuer_normal: NormalName
    subject_texts: tuple[str, ...]
    """Folded texts a ``x509SubjectContains`` needle is searched in."""
    serial: int
    not_before: _dt.datetime
    not_after: _dt.datetime

    @functools.cached_property
    def sha1(self) -> bytes:
        return hashlib.sha1(self.der).digest()

    @functools.cached_property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.der).digest()


@functools.lru_cache(maxsize=32768)
def names_of(cert: x509.Certificate) -> CertNames:
    """The decoded names of ``cert``, computed once (certificates hash by their DER)."""
    from rasign.certs import not_valid_after, not_valid_before

    issuer_name, subject_name = tbs_names(cert)
    subject, subject_normal, texts = _name_view(subject_name)
    issuer, issuer_normal, _ = _name_view(issuer_name)
    return CertNames(
        der=cert_der(cert),
        subject=subject,
        issuer=issuer,
        subject_normal=subject_normal,
        issuer_normal=issuer_normal,
        subject_texts=texts,
        serial=cert.serial_number,
        not_before=not_valid_before(cert),
        not_after=not_valid_after(cert),
    )


@functools.lru_cache(maxsize=4096)
def _name_view(name_der: bytes) -> tuple[str, NormalName, tuple[str, ...]]:
    """(Go rendering, normalised form, folded texts) of one Name, read once.

    Cached by the DER: a store's certificates mostly share a handful of issuers.
    """
    rdns = dn_attributes(name_der)
    rendered = _go_render(rdns)
    counter = _normalise(rdns)
    return rendered, frozen_name(counter), (fold(rendered), *(value for (_, value) in counter))
