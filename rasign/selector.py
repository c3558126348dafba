"""``--cert-selector``: parse it like the Go helper, match certificates, choose one.

Three jobs live here because they share one vocabulary (a parsed selector and the DN
strings it compares):

1. **Parsing** the Go helper's two syntaxes with its exact validation and error texts
   (reference-helper.md 1.8): the inline ``Key=x509Subject,Value=… Key=x509Serial,Value=…``
   form and ``file://selector.json`` (a JSON list of ``{"Key": …, "Value": …}`` objects).
   rasign adds two keys, ``x509Thumbprint`` (SHA-1 or SHA-256 of the DER) and
   ``x509SubjectContains`` (case-insensitive substring of the subject), and rejects a serial
   that is not hexadecimal instead of silently matching nothing as Go does.
2. **Matching**. Subjects and issuers are compared with the string Go's
   ``pkix.Name.String()`` produces (10.1) so selectors written for the Go helper keep
   working byte for byte, and also leniently: both sides are reduced to a multiset of
   (attribute OID, case-folded whitespace-collapsed value), so ``C=US, O=Acme, CN=web``,
   ``cn=web,o=acme,c=us`` and ``/C=US/O=Acme/CN=web`` all pick the same certificate. Go's
   rendering (canonical attribute order, hex-encoded unknown OIDs) surprised users
   (aws/rolesanywhere-credential-helper#75); leniency removes the surprise without breaking
   exact strings.
3. **Choosing** among matches (issue 6): certificates outside their validity window are
   ignored, then ``--use-latest-expiring-certificate`` picks the latest ``notAfter``;
   without it several matches are an error listing each candidate with a selector that picks
   it alone, so the fix is a copy and paste.

Only the standard library and ``cryptography`` are used; DNs are read from the DER with a
tiny parser because Go's rendering depends on the ASN.1 string type of each value, which
``cryptography``'s decoded names hide.
"""

from __future__ import annotations

import collections
import datetime as _dt
import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from rasign.der import decode_oid
from rasign.der import encode as encode_der_element
from rasign.der import read_tlv as read_der_element
from rasign.errors import CertificateError, KeyLoadError, UsageError

if TYPE_CHECKING:
    from cryptography import x509

# --------------------------------------------------------------------------------------
# Selector keys and error texts (Go's, verbatim, reference-helper.md Appendix A)
# --------------------------------------------------------------------------------------

SUBJECT = "x509Subject"
ISSUER = "x509Issuer"
SERIAL = "x509Serial"
THUMBPRINT = "x509Thumbprint"
SUBJECT_CONTAINS = "x509SubjectContains"

GO_KEYS = (SUBJECT, ISSUER, SERIAL)
"""Keys the Go helper accepts."""
KEYS = (*GO_KEYS, THUMBPRINT, SUBJECT_CONTAINS)
"""Keys rasign accepts (Go's plus two additions)."""

ERR_READ_FILE = "unable to read cert selector file"
ERR_JSON = "unable to parse JSON map entries"
ERR_INLINE = "unable to parse cert selector string"
ERR_INVALID_KEY = "cert selector contained invalid key"
ERR_DUPLICATE = "duplicate {} keys can't be present in cert selector"
ERR_MULTIPLE = "multiple matching identities"
ERR_NO_MATCH = "no matching identities"
ERR_NO_MATCH_WINDOWS = "no matching certs found in cert store"

_SYNTAX_HINT = (
    "write --cert-selector as 'Key=x509Subject,Value=CN=example Key=x509Serial,Value=0A1B'"
    " or file://selector.json holding [{\"Key\": \"x509Subject\", \"Value\": \"CN=example\"}];"
    f" keys: {', '.join(KEYS)}"
)

# Go's pattern with RE2's meaning spelled out for Python: \s is exactly [\t\n\f\r ] (no \v)
# and $ is end of text only (\Z), never before a final newline.
_WS = "[\t\n\f\r ]"
_INLINE_PAIR = re.compile(rf"{_WS}*Key=(.+?),Value=(.+?){_WS}*(?:Key=|\Z)")


# --------------------------------------------------------------------------------------
# The parsed selector
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertSelector:
    """What a ``--cert-selector`` asks for; an absent field is a wildcard."""

    subject: str | None = None
    issuer: str | None = None
    serial: int | None = None
    thumbprint: bytes | None = None
    """SHA-1 (20 bytes) or SHA-256 (32 bytes) of the certificate's DER."""
    subject_contains: str | None = None

    @property
    def is_empty(self) -> bool:
        """True when the selector matches every certificate."""
        return not (self.subject or self.issuer or self.serial is not None or self.thumbprint or self.subject_contains)

    def matches(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` satisfies every key of the selector."""
        if self.serial is not None and cert.serial_number != self.serial:
            return False
        if self.thumbprint is not None:
            algorithm = "sha1" if len(self.thumbprint) == 20 else "sha256"
            if hashlib.new(algorithm, _der(cert)).digest() != self.thumbprint:
                return False
        if self.subject and not dn_matches(self.subject, _subject_der(cert)):
            return False
        if self.issuer and not dn_matches(self.issuer, _issuer_der(cert)):
            return False
        if self.subject_contains:
            needle = _fold(self.subject_contains)
            subject_der = _subject_der(cert)
            texts = [go_dn_string(subject_der)] + [value for (_, value) in normalised_dn(subject_der)]
            if not any(needle in _fold(text) for text in texts):
                return False
        return True

    def to_text(self) -> str:
        """Render as the inline ``Key=…,Value=…`` form (keys in a fixed order)."""
        parts = []
        if self.subject:
            parts.append(f"Key={SUBJECT},Value={self.subject}")
        if self.issuer:
            parts.append(f"Key={ISSUER},Value={self.issuer}")
        if self.serial is not None:
            parts.append(f"Key={SERIAL},Value={serial_hex(self.serial)}")
        if self.thumbprint is not None:
            parts.append(f"Key={THUMBPRINT},Value={self.thumbprint.hex()}")
        if self.subject_contains:
            parts.append(f"Key={SUBJECT_CONTAINS},Value={self.subject_contains}")
        return " ".join(parts)


def parse_selector(text: str | None) -> CertSelector:
    """Parse ``--cert-selector`` (inline or ``file://``) into a :class:`CertSelector`.

    ``None`` or the empty string give the empty selector, which matches everything (as in
    Go). Syntax errors raise :class:`UsageError` whose message is the Go text.
    """
    if not text:
        return CertSelector()
    if text.startswith("file://"):
        return selector_from_pairs(_pairs_from_file(text[len("file://"):]))
    return selector_from_pairs(parse_inline(text))


def parse_inline(text: str) -> list[tuple[str, str]]:
    """Split the inline form into (key, value) pairs exactly as Go's ``getStringMap`` does."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    rest = text
    while True:
        match = _INLINE_PAIR.match(rest)
        if match is None:
            break
        key, value = match.group(1), match.group(2)
        _check_key(key, seen)
        pairs.append((key, value))
        end = match.end()
        if end != len(rest):
            end -= len("Key=")  # the next pair's "Key=" was only a look-ahead
        rest = rest[end:]
    if rest:
        raise UsageError(ERR_INLINE, hint=f"could not parse {rest[:60]!r}; {_SYNTAX_HINT}")
    return pairs


def parse_json(text: str) -> list[tuple[str, str]]:
    """(key, value) pairs from the JSON form with Go's ``encoding/json`` rules.

    The document must be a JSON array (or ``null``) of objects; member names ``Key`` and
    ``Value`` match case-insensitively, other members are ignored, a later duplicate member
    wins, and a non-string value is an error.
    """
    try:
        document = json.loads(text, object_pairs_hook=_Members, parse_constant=_reject_constant)
    except ValueError as err:
        raise UsageError(ERR_JSON, hint=f"the selector file is not valid JSON ({err}); {_SYNTAX_HINT}") from err
    except RecursionError as err:
        raise UsageError(ERR_JSON, hint=f"the selector file nests too deeply; {_SYNTAX_HINT}") from err
    if document is None:
        return []
    if not isinstance(document, list):
        raise UsageError(ERR_JSON, hint=f"the selector file must hold a JSON list; {_SYNTAX_HINT}")
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in document:
        key, value = "", ""
        if entry is not None:
            if not isinstance(entry, _Members):  # an array, string or number where an object belongs
                raise UsageError(ERR_JSON, hint=f"each entry must be an object with Key and Value; {_SYNTAX_HINT}")
            for name, member in entry:
                if name.lower() not in ("key", "value") or member is None:
                    continue
                if not isinstance(member, str):
                    raise UsageError(ERR_JSON, hint=f"{name} must be a string; {_SYNTAX_HINT}")
                if name.lower() == "key":
                    key = member
                else:
                    value = member
        _check_key(key, seen)
        pairs.append((key, value))
    return pairs


def selector_from_pairs(pairs: Iterable[tuple[str, str]]) -> CertSelector:
    """Build a :class:`CertSelector` from validated pairs; empty values are wildcards."""
    fields: dict[str, object] = {}
    for key, value in pairs:
        if value == "":
            continue
        if key == SUBJECT:
            fields["subject"] = value
        elif key == ISSUER:
            fields["issuer"] = value
        elif key == SERIAL:
            fields["serial"] = parse_serial(value)
        elif key == THUMBPRINT:
            fields["thumbprint"] = parse_thumbprint(value)
        elif key == SUBJECT_CONTAINS:
            fields["subject_contains"] = value
    return CertSelector(**fields)  # type: ignore[arg-type]


def parse_serial(value: str) -> int:
    """A hexadecimal serial: optional sign, optional ``0x``, colons/spaces and leading zeros allowed.

    Go parses with ``big.Int.SetString(v, 16)`` and ignores failure (then nothing matches);
    rasign refuses the value instead so a typo is visible.
    """
    text = value.strip()
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text[:2].lower() == "0x":
        text = text[2:]
    digits = re.sub(r"[:\s]", "", text)
    if not digits or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
        raise UsageError(
            f"invalid {SERIAL} value {value!r} in cert selector",
            hint="give the serial number in hexadecimal, e.g. 15D19632234BF759 or 15:d1:96:32; leading zeros are allowed",
        )
    return sign * int(digits, 16)


def parse_thumbprint(value: str) -> bytes:
    """A SHA-1 (40 hex digits) or SHA-256 (64 hex digits) fingerprint, colons/spaces allowed."""
    digits = re.sub(r"[:\s]", "", value)
    if len(digits) not in (40, 64) or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
        raise UsageError(
            f"invalid {THUMBPRINT} value {value!r} in cert selector",
            hint="give the SHA-1 (40 hex digits) or SHA-256 (64 hex digits) fingerprint of the certificate",
        )
    return bytes.fromhex(digits)


def serial_hex(serial: int) -> str:
    """Serial as Go's listing prints it: uppercase hex, no leading zeros, ``-`` when negative."""
    return ("-" if serial < 0 else "") + format(abs(serial), "X")


def _check_key(key: str, seen: set[str]) -> None:
    if key not in KEYS:
        raise UsageError(ERR_INVALID_KEY, hint=f"unknown key {key!r}; valid keys: {', '.join(KEYS)}")
    if key in seen:
        raise UsageError(ERR_DUPLICATE.format(key), hint="give each key at most once")
    seen.add(key)


MAX_SELECTOR_FILE_BYTES = 1 << 20


def _pairs_from_file(path: str) -> list[tuple[str, str]]:
    from rasign.localfile import NotReadable, read_regular

    try:
        data = read_regular(path, limit=MAX_SELECTOR_FILE_BYTES)
    except NotReadable as problem:
        raise UsageError(ERR_READ_FILE, hint=f"{path}: {problem.reason}") from problem
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(ERR_JSON, hint=f"{path} is not UTF-8 text") from err
    return parse_json(text)


class _Members(list):  # type: ignore[type-arg]
    """A JSON object's (name, value) members in order; tells objects apart from arrays."""


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# --------------------------------------------------------------------------------------
# Distinguished names: a minimal DER reader, Go's rendering, lenient comparison
# --------------------------------------------------------------------------------------

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
    "CN": "2.5.4.3", "COMMONNAME": "2.5.4.3",
    "SN": "2.5.4.4", "SURNAME": "2.5.4.4",
    "SERIALNUMBER": "2.5.4.5", "DEVICESERIALNUMBER": "2.5.4.5",
    "C": "2.5.4.6", "COUNTRYNAME": "2.5.4.6",
    "L": "2.5.4.7", "LOCALITYNAME": "2.5.4.7",
    "ST": "2.5.4.8", "S": "2.5.4.8", "STATEORPROVINCENAME": "2.5.4.8",
    "STREET": "2.5.4.9", "STREETADDRESS": "2.5.4.9",
    "O": "2.5.4.10", "ORGANIZATIONNAME": "2.5.4.10",
    "OU": "2.5.4.11", "ORGANIZATIONALUNITNAME": "2.5.4.11",
    "T": "2.5.4.12", "TITLE": "2.5.4.12",
    "POSTALCODE": "2.5.4.17",
    "G": "2.5.4.42", "GN": "2.5.4.42", "GIVENNAME": "2.5.4.42",
    "I": "2.5.4.43", "INITIALS": "2.5.4.43",
    "GENERATIONQUALIFIER": "2.5.4.44",
    "DNQUALIFIER": "2.5.4.46",
    "PSEUDONYM": "2.5.4.65",
    "ORGANIZATIONIDENTIFIER": "2.5.4.97",
    "E": "1.2.840.113549.1.9.1", "EMAIL": "1.2.840.113549.1.9.1", "EMAILADDRESS": "1.2.840.113549.1.9.1",
    "DC": "0.9.2342.19200300.100.1.25", "DOMAINCOMPONENT": "0.9.2342.19200300.100.1.25",
    "UID": "0.9.2342.19200300.100.1.1", "USERID": "0.9.2342.19200300.100.1.1",
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
    fields: dict[str, list[str]] = {}
    others: list[Attribute] = []
    for rdn in dn_attributes(name_der):
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
    counter: collections.Counter[tuple[str, str]] = collections.Counter()
    for rdn in dn_attributes(name_der):
        for attribute in rdn:
            value = attribute.value if attribute.value is not None else _lenient_decode(attribute)
            counter[(attribute.oid, _fold(value))] += 1
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
        counter[(oid, _fold(value))] += 1
    return counter if counter else None


def dn_matches(wanted: str, name_der: bytes) -> bool:
    """True when ``wanted`` equals Go's rendering of the DN, or names the same attributes."""
    if wanted == go_dn_string(name_der):
        return True
    parsed = _parsed_once(wanted)
    return parsed is not None and parsed == _frozen(normalised_dn(name_der))


@functools.lru_cache(maxsize=64)
def _parsed_once(text: str) -> frozenset[tuple[tuple[str, str], int]] | None:
    """The user's DN parsed once per process (a store compares it with every certificate)."""
    parsed = parse_dn_text(text)
    return None if parsed is None else _frozen(parsed)


def _frozen(counter: collections.Counter[tuple[str, str]]) -> frozenset[tuple[tuple[str, str], int]]:
    return frozenset(counter.items())


def _split_rfc4514(text: str) -> list[tuple[str, str, bool]] | None:
    """Tokenise ``type=value`` items separated by ``,``/``;``/``+``; None on nonsense."""
    items: list[tuple[str, str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        start = i
        while i < n and text[i] != "=":
            if text[i] in ",;+":
                return None
            i += 1
        if i >= n:
            return None
        kind = text[start:i].strip()
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        value_bytes = bytearray()
        is_hex = False
        if i < n and text[i] == "#":
            start = i + 1
            while i < n and text[i] not in ",;+":
                i += 1
            value = text[start:i].strip()
            is_hex = True
            items.append((kind, value, is_hex))
        else:
            if i < n and text[i] == '"':
                i += 1
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n:
                        i += 1
                    value_bytes += text[i].encode("utf-8", "surrogateescape")
                    i += 1
                if i >= n:
                    return None
                i += 1
                while i < n and text[i] in " \t":
                    i += 1
            else:
                while i < n and text[i] not in ",;+":
                    char = text[i]
                    if char == "\\" and i + 1 < n:
                        pair = text[i + 1 : i + 3]
                        if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                            value_bytes.append(int(pair, 16))
                            i += 3
                            continue
                        value_bytes += text[i + 1].encode("utf-8", "surrogateescape")
                        i += 2
                        continue
                    value_bytes += char.encode("utf-8", "surrogateescape")
                    i += 1
            items.append((kind, value_bytes.decode("utf-8", "surrogateescape"), False))
        if i < n:
            if text[i] not in ",;+":
                return None
            i += 1
            if i >= n:
                return None
    return items


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


def _fold(value: str) -> str:
    """Case-folded, NFKC-normalised, whitespace-collapsed form for lenient comparison."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _go_decode(tag: int, body: bytes) -> str | None:
    """Decode a value as Go's ``parseASN1String`` does; None where Go fails."""
    try:
        if tag == _PRINTABLE:
            text = body.decode("ascii")
            if not all(c.isascii() and (c.isalnum() or c in _PRINTABLE_EXTRA or c in "*&") for c in text):
                return None
            return text
        if tag == _UTF8:
            return body.decode("utf-8")
        if tag == _IA5:
            return body.decode("ascii")
        if tag == _NUMERIC:
            text = body.decode("ascii")
            return text if all(c.isdigit() or c == " " for c in text) else None
        if tag == _T61:
            return body.decode("utf-8", "surrogateescape")  # Go keeps the raw bytes
        if tag == _BMP:
            if len(body) % 2:
                return None
            if len(body) >= 2 and body[-2:] == b"\x00\x00":
                body = body[:-2]
            return body.decode("utf-16-be", "replace")
    except UnicodeDecodeError:
        return None
    return None


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


def _der(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.DER)


def _subject_der(cert: x509.Certificate) -> bytes:
    return _tbs_names(cert)[1]


def _issuer_der(cert: x509.Certificate) -> bytes:
    return _tbs_names(cert)[0]


def _tbs_names(cert: x509.Certificate) -> tuple[bytes, bytes]:
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


# --------------------------------------------------------------------------------------
# Describing certificates
# --------------------------------------------------------------------------------------


def subject_string(cert: x509.Certificate) -> str:
    """Go's rendering of the subject (what selectors and listings use)."""
    return go_dn_string(_subject_der(cert))


def issuer_string(cert: x509.Certificate) -> str:
    """Go's rendering of the issuer."""
    return go_dn_string(_issuer_der(cert))


def thumbprint(cert: x509.Certificate, algorithm: str = "sha1") -> str:
    """Lowercase hex fingerprint of the DER (SHA-1 like Go's listing, or SHA-256)."""
    return hashlib.new(algorithm, _der(cert)).hexdigest()


def validity(cert: x509.Certificate) -> tuple[_dt.datetime, _dt.datetime]:
    """(notBefore, notAfter) as aware UTC datetimes."""
    from rasign.certs import not_valid_after, not_valid_before

    return not_valid_before(cert), not_valid_after(cert)


# --------------------------------------------------------------------------------------
# Choosing one certificate
# --------------------------------------------------------------------------------------


class Candidate(Protocol):
    """Anything with a certificate and a place: store entries, identities."""

    @property
    def certificate(self) -> x509.Certificate: ...

    @property
    def where(self) -> str: ...


C = TypeVar("C", bound=Candidate)


def unique_selector(cert: x509.Certificate, population: Sequence[x509.Certificate]) -> str:
    """The shortest inline selector that matches ``cert`` and nothing else in ``population``.

    Tries, in order: the subject; subject + issuer; subject + serial; subject + issuer +
    serial; the SHA-256 thumbprint (always unique unless the very same certificate is
    present twice). Each try is checked with the real matcher, so lenient matching can
    never make a suggested selector ambiguous. Values that the inline syntax cannot carry
    (a newline, the text ``Key=``, trailing whitespace) skip straight to the thumbprint.
    """
    subject = subject_string(cert)
    issuer = issuer_string(cert)
    tries = [
        CertSelector(subject=subject),
        CertSelector(subject=subject, issuer=issuer),
        CertSelector(subject=subject, serial=cert.serial_number),
        CertSelector(subject=subject, issuer=issuer, serial=cert.serial_number),
    ]
    own = _der(cert)
    for attempt in tries:
        if not _inline_safe(attempt):
            continue
        hits = [other for other in population if attempt.matches(other)]
        if hits and all(_der(other) == own for other in hits):
            return attempt.to_text()
    return CertSelector(thumbprint=hashlib.sha256(own).digest()).to_text()


def _inline_safe(selector: CertSelector) -> bool:
    for value in (selector.subject, selector.issuer):
        if value is None:
            continue
        if "\n" in value or "Key=" in value or value != value.strip("\t\n\f\r ") or not value:
            return False
    try:
        return parse_selector(selector.to_text()) == selector
    except UsageError:
        return False


def describe_candidate(cert: x509.Certificate, where: str) -> str:
    """One-line summary used in ambiguity errors and debug logs."""
    start, end = validity(cert)
    return (
        f"{subject_string(cert) or '<empty subject>'} (issuer {issuer_string(cert)}, serial {serial_hex(cert.serial_number)},"
        f" valid {start:%Y-%m-%d} to {end:%Y-%m-%d}, in {where})"
    )


def choose(
    matches: Sequence[C],
    *,
    use_latest: bool,
    population: Sequence[x509.Certificate] | None = None,
    now: _dt.datetime | None = None,
    no_match_message: str = ERR_NO_MATCH,
    searched: str = "",
    log: Callable[[str], None] | None = None,
) -> C:
    """Pick one of the certificates a selector matched.

    Policy (issue 6): drop certificates that are expired or not yet valid; one left wins;
    several left: with ``use_latest`` the latest ``notAfter`` wins (ties go to the latest
    ``notBefore``, then the first found, so the result is stable); without it the error
    lists every candidate with a selector that picks it alone. The same certificate found
    twice (a PEM and a PKCS#12 of the same identity) counts once: the first place wins.

    ``population`` is every certificate the store holds, used to make the suggested
    selectors unique store-wide (defaults to ``matches``).
    """
    where = f" in {searched}" if searched else ""
    if not matches:
        raise KeyLoadError(
            no_match_message,
            hint=f"no certificate{where} matches the selector; list them with: rasign read-certificate-data"
            " --cert-selector '' plus the same store flags",
        )
    now = now or _dt.datetime.now(_dt.timezone.utc)
    unique: list[C] = []
    seen: set[bytes] = set()
    for candidate in matches:
        der = _der(candidate.certificate)
        if der not in seen:
            seen.add(der)
            unique.append(candidate)
    current = [c for c in unique if validity(c.certificate)[0] <= now < validity(c.certificate)[1]]
    if not current:
        listing = "; ".join(describe_candidate(c.certificate, c.where) for c in unique)
        raise CertificateError(
            f"every matching certificate is expired or not yet valid: {listing}",
            hint="renew the certificate, or check the system clock",
        )
    if log is not None and len(current) < len(unique):
        log(f"ignored {len(unique) - len(current)} matching certificate(s) outside their validity period")
    if len(current) == 1:
        return current[0]
    if use_latest:
        best = current[0]
        for candidate in current[1:]:
            if _later(candidate.certificate, best.certificate):
                best = candidate
        return best
    people = list(population) if population is not None else [c.certificate for c in unique]
    listing = "; ".join(
        f"{index}) {describe_candidate(c.certificate, c.where)} select with --cert-selector"
        f" '{unique_selector(c.certificate, people)}'"
        for index, c in enumerate(current, start=1)
    )
    raise KeyLoadError(
        f"{ERR_MULTIPLE}: {len(current)} valid certificates match{where}: {listing}",
        hint="use one of the selectors shown, or pass --use-latest-expiring-certificate to take the one that expires last",
    )


def _later(a: x509.Certificate, b: x509.Certificate) -> bool:
    (a_start, a_end), (b_start, b_end) = validity(a), validity(b)
    return (a_end, a_start) > (b_end, b_start)
