"""``--cert-selector``: parse it like the Go helper, match certificates, choose one.

Store policy, so it lives with the store backend (the core only knows X.509 names,
:mod:`rasign.x509names`):

1. **Parsing** the Go helper's two syntaxes with its exact validation and error texts
   (reference-helper.md 1.8): the inline ``Key=x509Subject,Value=… Key=x509Serial,Value=…``
   form and ``file://selector.json`` (a JSON list of ``{"Key": …, "Value": …}`` objects).
   rasign adds two keys, ``x509Thumbprint`` (SHA-1 or SHA-256 of the DER) and
   ``x509SubjectContains`` (case-insensitive substring of the subject), and rejects a serial
   that is not hexadecimal instead of silently matching nothing as Go does.
2. **Matching**. Subjects and issuers are compared with the string Go's
   ``pkix.Name.String()`` produces so selectors written for the Go helper keep working
   byte for byte, and also leniently (see :mod:`rasign.x509names`): ``C=US, O=Acme, CN=web``,
   ``cn=web,o=acme,c=us`` and ``/C=US/O=Acme/CN=web`` all pick the same certificate.
   Go's rendering surprised users (aws/rolesanywhere-credential-helper#75); leniency
   removes the surprise without breaking exact strings.
3. **Choosing** among matches: certificates outside their validity window are ignored,
   then ``--use-latest-expiring-certificate`` picks the latest ``notAfter``; without it
   several matches are an error listing each candidate with a selector that picks it
   alone, so the fix is a copy and paste. :class:`SelectorIndex` finds those selectors for
   a whole store in linear time.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from rasign.errors import CertificateError, KeyLoadError, UsageError
from rasign.x509names import CertNames, fold, name_matches, names_of, parsed_dn

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
    ' or file://selector.json holding [{"Key": "x509Subject", "Value": "CN=example"}];'
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
        return self.matches_names(names_of(cert))

    def matches_names(self, names: CertNames) -> bool:
        """:meth:`matches` on names decoded once (no DER work per comparison)."""
        if self.serial is not None and names.serial != self.serial:
            return False
        if self.thumbprint is not None:
            digest = names.sha1 if len(self.thumbprint) == 20 else names.sha256
            if digest != self.thumbprint:
                return False
        if self.subject and not name_matches(self.subject, names.subject, names.subject_normal):
            return False
        if self.issuer and not name_matches(self.issuer, names.issuer, names.issuer_normal):
            return False
        if self.subject_contains:
            needle = fold(self.subject_contains)
            if not any(needle in text for text in names.subject_texts):
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
        return selector_from_pairs(_pairs_from_file(text[len("file://") :]))
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


class _Members(list[tuple[str, object]]):
    """A JSON object's (name, value) members in order; tells objects apart from arrays."""


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


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


class SelectorIndex:
    """A population of certificates indexed by subject, to find unique selectors fast.

    A selector that names a subject can only match certificates whose Go-rendered subject
    equals it, or whose normalised subject equals its lenient parse; both are dictionary
    look-ups, so finding every entry's unique selector costs time linear in the store.
    """

    def __init__(self, population: Iterable[x509.Certificate]) -> None:
        self._by_subject: dict[str, list[CertNames]] = {}
        self._by_normal: dict[object, list[CertNames]] = {}
        for cert in population:
            names = names_of(cert)
            self._by_subject.setdefault(names.subject, []).append(names)
            self._by_normal.setdefault(names.subject_normal, []).append(names)

    def _subject_candidates(self, subject: str) -> list[CertNames]:
        found = {id(n): n for n in self._by_subject.get(subject, [])}
        parsed = parsed_dn(subject)
        if parsed is not None:
            found.update((id(n), n) for n in self._by_normal.get(parsed, []))
        return list(found.values())

    def unique(self, cert: x509.Certificate) -> str:
        """The shortest inline selector that matches ``cert`` and nothing else here.

        Tries, in order: the subject; subject + issuer; subject + serial; subject + issuer +
        serial; the SHA-256 thumbprint (always unique unless the very same certificate is
        present twice). Each try is checked with the real matcher, so lenient matching can
        never make a suggested selector ambiguous. Values that the inline syntax cannot
        carry (a newline, the text ``Key=``, trailing whitespace) skip to the thumbprint.
        """
        own = names_of(cert)
        candidates = self._subject_candidates(own.subject)
        tries = [
            CertSelector(subject=own.subject),
            CertSelector(subject=own.subject, issuer=own.issuer),
            CertSelector(subject=own.subject, serial=own.serial),
            CertSelector(subject=own.subject, issuer=own.issuer, serial=own.serial),
        ]
        for attempt in tries:
            if not _inline_safe(attempt):
                continue
            hits = [other for other in candidates if attempt.matches_names(other)]
            if hits and all(other.der == own.der for other in hits):
                return attempt.to_text()
        return CertSelector(thumbprint=own.sha256).to_text()


def unique_selector(cert: x509.Certificate, population: Sequence[x509.Certificate]) -> str:
    """:meth:`SelectorIndex.unique` for a one-off question (build the index once for many)."""
    return SelectorIndex(population).unique(cert)


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
    names = names_of(cert)
    return (
        f"{names.subject or '<empty subject>'} (issuer {names.issuer}, serial {serial_hex(names.serial)},"
        f" valid {names.not_before:%Y-%m-%d} to {names.not_after:%Y-%m-%d}, in {where})"
    )


def _valid_at(names: CertNames, now: _dt.datetime) -> bool:
    return names.not_before <= now < names.not_after


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
    unique = _distinct(matches)
    current = _current(unique, now or _dt.datetime.now(_dt.timezone.utc), log)
    if len(current) == 1:
        return current[0]
    if use_latest:
        best = current[0]
        for candidate in current[1:]:
            if _later(candidate.certificate, best.certificate):
                best = candidate
        return best
    index = SelectorIndex(population if population is not None else [c.certificate for c in unique])
    listing = "; ".join(
        f"{number}) {describe_candidate(c.certificate, c.where)} select with --cert-selector"
        f" '{index.unique(c.certificate)}'"
        for number, c in enumerate(current, start=1)
    )
    raise KeyLoadError(
        f"{ERR_MULTIPLE}: {len(current)} valid certificates match{where}: {listing}",
        hint="use one of the selectors shown, or pass --use-latest-expiring-certificate to take the one that expires last",
    )


def _distinct(matches: Sequence[C]) -> list[C]:
    """The matches with each certificate once (the first place it was found wins)."""
    unique: list[C] = []
    seen: set[bytes] = set()
    for candidate in matches:
        der = names_of(candidate.certificate).der
        if der not in seen:
            seen.add(der)
            unique.append(candidate)
    return unique


def _current(unique: list[C], now: _dt.datetime, log: Callable[[str], None] | None) -> list[C]:
    """The candidates valid at ``now``; none at all is an error that lists them."""
    current = [c for c in unique if _valid_at(names_of(c.certificate), now)]
    if not current:
        listing = "; ".join(describe_candidate(c.certificate, c.where) for c in unique)
        raise CertificateError(
            f"every matching certificate is expired or not yet valid: {listing}",
            hint="renew the certificate, or check the system clock",
        )
    if log is not None and len(current) < len(unique):
        log(f"ignored {len(unique) - len(current)} matching certificate(s) outside their validity period")
    return current


def _later(a: x509.Certificate, b: x509.Certificate) -> bool:
    first, second = names_of(a), names_of(b)
    return (first.not_after, first.not_before) > (second.not_after, second.not_before)
