"""A strict HTTP/1.1 request parser and response writer for ``rasign serve`` (RFC 9112).

``http.server`` is lenient the way request smuggling needs: it takes ``Content-Length``
and ``Transfer-Encoding`` together, two differing ``Content-Length`` headers, white space
before a header's colon and folded header lines, so a proxy and rasign can disagree on
where a request ends and a second request (one without ``X-Forwarded-For``) hides in the
body of the first. This parser refuses every such form with 400 and the server closes the
connection after any error, so nothing after a bad request is ever read as a request.

Only what a credential endpoint needs is supported: origin-form targets, bodies framed by
``Content-Length`` (at most :data:`MAX_BODY` bytes; no client of IMDS or ECS sends one),
no ``Transfer-Encoding`` at all (501), HTTP/1.0 and HTTP/1.1. Lines end with CRLF; a bare
CR or LF anywhere is an error rather than a guess.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from email.utils import formatdate

MAX_HEAD = 8192
"""Bytes allowed for the request line plus all header lines (SDK requests use < 1 KiB)."""
MAX_HEADERS = 64
MAX_BODY = 4096

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(rb"/[\x21-\x7e]*")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_DIGITS = re.compile(rb"[0-9]{1,10}")
_BAD_HEAD = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|(?<!\r)\n|\r(?!\n)")
"""In a complete head: a control character (HTAB aside), a bare LF, or a CR not followed by LF."""
_PARTIAL_BAD_EOL = re.compile(rb"(?<!\r)\n|\r(?!\n)(?!\Z)")
"""The same in a head still arriving, where a CR may be the last byte so far."""

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


class HttpError(Exception):
    """A request that cannot be framed or is not acceptable; answered, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    """One parsed request. Header names are lower-case; each appears once unless listed twice."""

    method: str
    target: str
    version: tuple[int, int]
    headers: dict[str, str]
    body: bytes = b""
    repeated: set[str] = field(default_factory=set)
    """Header names that appeared more than once (their values are joined with ``, ``)."""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def keep_alive(self) -> bool:
        tokens = {item.strip().lower() for item in self.headers.get("connection", "").split(",")}
        if self.version >= (1, 1):
            return "close" not in tokens
        return "keep-alive" in tokens


def parse_request(buffer: bytes | bytearray) -> tuple[Request, int] | None:
    """Parse one request at the start of ``buffer``.

    Returns ``(request, bytes consumed)``, or None when more bytes are needed; raises
    :class:`HttpError` when the bytes can never become a valid request.
    """
    start = 0
    # RFC 9112 2.2: ignore empty lines before the request line (some clients send one).
    while buffer.startswith(b"\r\n", start):
        start += 2
    end = buffer.find(b"\r\n\r\n", start)
    if end < 0:
        if len(buffer) - start > MAX_HEAD:
            raise HttpError(431, "request head too large")
        if _PARTIAL_BAD_EOL.search(buffer, start):
            raise HttpError(400, "lines must end with CRLF")
        return None
    if end - start > MAX_HEAD:
        raise HttpError(431, "request head too large")
    head = bytes(buffer[start:end])
    bad = _BAD_HEAD.search(head)
    if bad:
        if bad.group() in (b"\r", b"\n"):
            raise HttpError(400, "lines must end with CRLF")
        raise HttpError(400, "control character in the request head")
    lines = head.split(b"\r\n")
    method, target, version = _request_line(lines[0])
    headers, repeated = _header_fields(lines[1:])
    length = _body_length(headers, repeated)
    body_start = end + 4
    if len(buffer) - body_start < length:
        return None
    body = bytes(buffer[body_start : body_start + length])
    return Request(method, target, version, headers, body, repeated), body_start + length


def _request_line(line: bytes) -> tuple[str, str, tuple[int, int]]:
    parts = line.split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise HttpError(400, "malformed method")
    if len(target) > 2048:
        raise HttpError(414, "request target too long")
    if not _TARGET.fullmatch(target):
        raise HttpError(400, "malformed request target (origin-form /path expected)")
    match = _VERSION.fullmatch(version)
    if not match:
        raise HttpError(400, "malformed HTTP version")
    numbers = (int(match.group(1)), int(match.group(2)))
    if numbers[0] != 1:
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    return method.decode("ascii"), target.decode("ascii"), numbers


def _header_fields(lines: list[bytes]) -> tuple[dict[str, str], set[str]]:
    if len(lines) > MAX_HEADERS:
        raise HttpError(431, "too many header fields")
    headers: dict[str, str] = {}
    repeated: set[str] = set()
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise HttpError(400, "obsolete line folding is not accepted")
        name, colon, value = line.partition(b":")
        if not colon:
            raise HttpError(400, "header field without a colon")
        if not _TOKEN.fullmatch(name):
            # Includes white space between the name and the colon (RFC 9112 5.1: MUST reject).
            raise HttpError(400, "malformed header field name")
        value = value.strip(b" \t")  # control characters were refused for the whole head
        key = name.decode("ascii").lower()
        text = value.decode("latin-1")
        if key in headers:
            repeated.add(key)
            headers[key] = f"{headers[key]}, {text}"
        else:
            headers[key] = text
    return headers, repeated


def _body_length(headers: dict[str, str], repeated: set[str]) -> int:
    if "transfer-encoding" in headers:
        if "content-length" in headers:
            raise HttpError(400, "Content-Length and Transfer-Encoding together")
        raise HttpError(501, "Transfer-Encoding is not supported")
    raw = headers.get("content-length")
    if raw is None:
        return 0
    if "content-length" in repeated:
        raise HttpError(400, "more than one Content-Length")
    value = raw.encode("latin-1")
    if not _DIGITS.fullmatch(value):
        raise HttpError(400, "malformed Content-Length")
    length = int(value)
    if length > MAX_BODY:
        raise HttpError(413, "request body too large")
    return length


class DateCache:
    """The ``Date`` header value, formatted at most once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = formatdate(second, usegmt=True)
        return self._value


_DATES = DateCache()


def render(
    status: int,
    body: bytes = b"",
    content_type: str = "text/plain; charset=utf-8",
    headers: dict[str, str] | None = None,
    *,
    close: bool = False,
    head: bool = False,
) -> bytes:
    """Serialise a response. ``head`` keeps Content-Length but leaves out the body."""
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        "Server: rasign",
        f"Date: {_DATES.now()}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    if headers:
        lines.extend(f"{name}: {value}" for name, value in headers.items())
    if close:
        lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return data if head else data + body
