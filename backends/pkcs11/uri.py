"""RFC 7512 ``pkcs11:`` URIs: parse every standard attribute, format ready-to-paste URIs.

A URI is how a user names a token object, and also what rasign prints back when a
search is ambiguous, so parsing and formatting live together and round-trip:
``parse(u.format()) == u``.

Rules (RFC 7512 section 2.3, with the Go helper's checks kept, reference-helper.md 8.2):

- path attributes are separated by ``;``, query attributes by ``&``; each is split at the
  first ``=``; values are percent-decoded (``+`` stays ``+``);
- a duplicate or unknown attribute is an error (a typo such as ``label=`` must not
  silently match everything); vendor attributes (``x-...``) are accepted and ignored;
- ``slot-id`` is decimal, ``library-version`` is ``M[.N]``, ``type`` is one of
  ``public|private|cert|secret-key|data``, ``pin-source`` and ``pin-value`` exclude each
  other, ``module-path`` is absolute;
- ``id`` is raw bytes; every other value must be UTF-8 text.

The PIN is never part of :meth:`Pkcs11Uri.format` unless asked for, so a URI can be
printed in an error or a listing without leaking it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from rasign.errors import UsageError

PATH_ATTRIBUTES = (
    "token",
    "manufacturer",
    "serial",
    "model",
    "library-manufacturer",
    "library-description",
    "library-version",
    "slot-id",
    "slot-description",
    "slot-manufacturer",
    "object",
    "id",
    "type",
)
"""Standard path attributes, in the order :meth:`Pkcs11Uri.format` writes them."""

QUERY_ATTRIBUTES = ("pin-source", "pin-value", "module-name", "module-path")
OBJECT_TYPES = ("public", "private", "cert", "secret-key", "data")

_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_PATH_SAFE = frozenset((_UNRESERVED + ":[]@!$'()*+,=&").encode())
_QUERY_SAFE = frozenset((_UNRESERVED + ":[]@!$'()*+,=/?|").encode())
_VENDOR = re.compile(r"^x-[A-Za-z0-9_-]+$")
_HINTS = {
    "label": "use object= for an object's label",
    "pin": "use pin-value= (in the query, after '?') or pin-source=file:/path",
    "slot": "use slot-id= (decimal)",
    "token-label": "use token=",
    "module": "use module-path= (in the query, after '?')",
}


@dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed ``pkcs11:`` URI; attribute values are already percent-decoded bytes."""

    path: dict[str, bytes] = field(default_factory=dict)
    query: dict[str, bytes] = field(default_factory=dict)
    vendor: dict[str, bytes] = field(default_factory=dict)

    # -- typed accessors ----------------------------------------------------------------
    def text(self, name: str) -> str | None:
        """A text attribute (path or query) as str, or None when absent."""
        raw = self.path.get(name, self.query.get(name))
        return None if raw is None else raw.decode("utf-8")

    @property
    def token(self) -> str | None:
        return self.text("token")

    @property
    def object(self) -> str | None:
        return self.text("object")

    @property
    def id(self) -> bytes | None:
        return self.path.get("id")

    @property
    def type(self) -> str | None:
        return self.text("type")

    @property
    def slot_id(self) -> int | None:
        value = self.text("slot-id")
        return None if value is None else int(value)

    @property
    def library_version(self) -> tuple[int, int] | None:
        value = self.text("library-version")
        if value is None:
            return None
        major, _, minor = value.partition(".")
        return int(major), int(minor or 0)

    @property
    def pin_value(self) -> str | None:
        return self.text("pin-value")

    @property
    def pin_source(self) -> str | None:
        return self.text("pin-source")

    @property
    def module_name(self) -> str | None:
        return self.text("module-name")

    @property
    def module_path(self) -> str | None:
        return self.text("module-path")

    @property
    def init_reserved(self) -> str | None:
        """``x-init-reserved=``: the module's ``C_Initialize`` ``pReserved`` string (p11-kit's name)."""
        value = self.vendor.get("x-init-reserved")
        return value.decode("utf-8") if value is not None else None

    # -- building -----------------------------------------------------------------------
    def with_path(self, **changes: str | bytes | None) -> Pkcs11Uri:
        """Copy with path attributes set (None removes); keyword ``slot_id`` = ``slot-id``."""
        path = dict(self.path)
        for key, value in changes.items():
            name = key.replace("_", "-")
            if name not in PATH_ATTRIBUTES:
                raise ValueError(f"not a path attribute: {name}")
            if value is None:
                path.pop(name, None)
            else:
                path[name] = value if isinstance(value, bytes) else str(value).encode("utf-8")
        return replace(self, path=path)

    def without_secrets(self) -> Pkcs11Uri:
        """Copy without ``pin-value``: safe to print."""
        query = {k: v for k, v in self.query.items() if k != "pin-value"}
        return replace(self, query=query)

    def format(self, *, include_pin: bool = False) -> str:
        """Render as a URI string; ``pin-value`` only with ``include_pin=True``."""
        parts = [
            f"{name}={_escape(self.path[name], _PATH_SAFE, name == 'id')}"
            for name in PATH_ATTRIBUTES
            if name in self.path
        ]
        parts += [f"{name}={_escape(value, _PATH_SAFE, False)}" for name, value in self.vendor.items()]
        query = [
            f"{name}={_escape(self.query[name], _QUERY_SAFE, False)}"
            for name in QUERY_ATTRIBUTES
            if name in self.query and (include_pin or name != "pin-value")
        ]
        text = "pkcs11:" + ";".join(parts)
        if query:
            text += "?" + "&".join(query)
        return text

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:  # never show a PIN in a traceback or a log
        return f"Pkcs11Uri({self.format()!r})"


def is_pkcs11_uri(text: str | None) -> bool:
    """True for strings the PKCS#11 backend owns (case-insensitive scheme)."""
    return bool(text) and text[:7].lower() == "pkcs11:"  # type: ignore[index]


def parse(text: str) -> Pkcs11Uri:
    """Parse an RFC 7512 URI or raise :class:`UsageError` naming the problem."""
    if not is_pkcs11_uri(text):
        raise _malformed(text, "it must start with 'pkcs11:'")
    body = text[7:]
    path_text, has_query, query_text = body.partition("?")
    path: dict[str, bytes] = {}
    vendor: dict[str, bytes] = {}
    query: dict[str, bytes] = {}
    for item in _split(path_text, ";"):
        name, value = _attribute(text, item, "path")
        if name in QUERY_ATTRIBUTES:
            raise _malformed(text, f"{name} is a query attribute: put it after '?'")
        target = vendor if _VENDOR.match(name) else path
        if name not in PATH_ATTRIBUTES and target is path:
            raise _unknown(text, name)
        if name in target:
            raise _malformed(text, f"duplicate path attribute {name}")
        target[name] = value
    if has_query:
        for item in _split(query_text, "&"):
            name, value = _attribute(text, item, "query")
            if _VENDOR.match(name):
                vendor[name] = value
                continue
            if name in PATH_ATTRIBUTES:
                raise _malformed(text, f"{name} is a path attribute: put it before '?'")
            if name not in QUERY_ATTRIBUTES:
                raise _unknown(text, name)
            if name in query:
                raise _malformed(text, f"duplicate query attribute {name}")
            query[name] = value
    uri = Pkcs11Uri(path=path, query=query, vendor=vendor)
    _validate(text, uri)
    return uri


def _split(text: str, separator: str) -> list[str]:
    # An empty path ("pkcs11:") or a trailing separator is legal and means "no attribute".
    return [item for item in text.split(separator) if item]


def _attribute(uri: str, item: str, part: str) -> tuple[str, bytes]:
    name, has_value, value = item.partition("=")
    if not has_value or not name:
        raise _malformed(uri, f"malformed {part} attribute {_safe_item(name, item)!r}: expected name=value")
    return name.lower(), _unescape(uri, value)


def _safe_item(name: str, item: str) -> str:
    return name if name.startswith("pin") else item


def _unescape(uri: str, value: str) -> bytes:
    out = bytearray()
    raw = value.encode("utf-8")
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25:  # '%'
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or not all(c in b"0123456789abcdefABCDEF" for c in pair):
                raise _malformed(
                    uri,
                    f"bad percent-encoding {raw[i : i + 3].decode('utf-8', 'replace')!r}: use %XX with two hex digits",
                )
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(byte)
            i += 1
    return bytes(out)


def _escape(value: bytes, safe: frozenset[int], every_byte: bool) -> str:
    if every_byte:
        return "".join(f"%{b:02X}" for b in value)
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in value)


def _validate(text: str, uri: Pkcs11Uri) -> None:
    for name, value in (*uri.path.items(), *uri.query.items()):
        if name == "id":
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed(text, f"{name} is not valid UTF-8 after percent-decoding") from None
    slot_id = uri.text("slot-id")
    if slot_id is not None and not re.fullmatch(r"[0-9]+", slot_id):
        raise _malformed(text, f"slot-id must be a decimal number, not {slot_id!r}")
    version = uri.text("library-version")
    if version is not None and not re.fullmatch(r"[0-9]+(\.[0-9]+)?", version):
        raise _malformed(text, f"library-version must be M or M.N, not {version!r}")
    kind = uri.type
    if kind is not None and kind not in OBJECT_TYPES:
        raise _malformed(text, f"type must be one of {', '.join(OBJECT_TYPES)}, not {kind!r}")
    if "pin-source" in uri.query and "pin-value" in uri.query:
        raise _malformed(text, "pin-source and pin-value cannot both be given")
    module_path = uri.module_path
    if module_path is not None and not module_path.startswith("/"):
        raise _malformed(text, f"module-path must be an absolute path, not {module_path!r}")


def _redacted(text: str) -> str:
    return re.sub(r"(pin-value=)[^&]*", r"\1***", text)


def _malformed(text: str, problem: str) -> UsageError:
    return UsageError(f"malformed pkcs11 URI {_redacted(text)!r}: {problem}", hint="see RFC 7512 or docs/pkcs11.md")


def _unknown(text: str, name: str) -> UsageError:
    hint = _HINTS.get(name, "known attributes: " + ", ".join(PATH_ATTRIBUTES + QUERY_ATTRIBUTES))
    return UsageError(f"malformed pkcs11 URI {_redacted(text)!r}: unknown attribute {name!r}", hint=hint)
