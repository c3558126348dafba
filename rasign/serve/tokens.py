"""IMDSv2 session tokens that carry their own expiry and need no server-side table.

A client PUTs ``/latest/api/token`` with a TTL and must present the token on every GET.
That forces a request/response round trip before credentials flow, which defeats the
classic SSRF trick of making a server fetch a URL for you (no PUT, no custom header).

The Go helper (and rasign before issue 9) kept issued tokens in a table of 256 and
evicted the earliest-expiring one when it was full, so any local process could PUT 256
times and every SDK's cached six-hour token was gone. Here a token is
``version | expiry | nonce | HMAC-SHA256(key, version | expiry | nonce)`` in URL-safe
base64, with a random key made per process. Checking a token is one HMAC and a clock
read; there is nothing to fill, so no client can evict another's token, and a token never
outlives the process that issued it. Expiry uses the boot-time clock (monotonic, and on
Linux it keeps counting while the machine sleeps), so changing the wall clock neither
extends nor cuts a token's life, and a laptop's suspend does not stretch it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from collections.abc import Callable

MIN_TTL = 1
MAX_TTL = 21600
DEFAULT_TTL = 21600

_VERSION = 1
_HEADER = struct.Struct(">BQ")  # version, expiry in milliseconds of the monotonic clock
_NONCE = 16
_MAC = 32
_RAW = _HEADER.size + _NONCE + _MAC
TOKEN_LENGTH = len(base64.urlsafe_b64encode(b"\0" * _RAW))
"""Characters in every token (76); anything longer or shorter is refused unread."""


def parse_ttl(value: str | None) -> int | None:
    """The TTL header as an int in 1..21600, the default when absent, None when invalid."""
    if value is None:
        return DEFAULT_TTL
    text = value.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or not digits.isascii():
        return None
    ttl = int(text)
    if ttl < MIN_TTL or ttl > MAX_TTL:
        return None
    return ttl


def boot_clock() -> float:
    """Seconds since boot including suspend (Linux CLOCK_BOOTTIME), else the monotonic clock."""
    if _BOOTTIME is not None:
        return time.clock_gettime(_BOOTTIME)
    return time.monotonic()


_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", None)


class TokenSigner:
    """Issues and checks stateless tokens; thread-safe because it holds no mutable state."""

    def __init__(self, key: bytes | None = None, clock: Callable[[], float] = boot_clock) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)
        self._clock = clock

    def _mac(self, signed: bytes) -> bytes:
        return hmac.new(self._key, signed, hashlib.sha256).digest()

    def issue(self, ttl: int) -> str:
        """A token valid for ``ttl`` seconds (1..21600) from now."""
        if not MIN_TTL <= ttl <= MAX_TTL:
            raise ValueError(f"token TTL {ttl} outside {MIN_TTL}..{MAX_TTL}")
        expiry_ms = int((self._clock() + ttl) * 1000)
        signed = _HEADER.pack(_VERSION, max(expiry_ms, 0)) + secrets.token_bytes(_NONCE)
        return base64.urlsafe_b64encode(signed + self._mac(signed)).decode("ascii")

    def now(self) -> float:
        """The clock tokens expire by."""
        return self._clock()

    def remaining(self, token: str) -> float | None:
        """Seconds the token has left, or None when it is malformed, forged or expired."""
        expiry = self.expiry(token)
        if expiry is None:
            return None
        left = expiry - self._clock()
        return left if left > 0 else None

    def expiry(self, token: str) -> float | None:
        """When the token expires on :meth:`now`'s clock, or None when malformed, forged or expired."""
        if len(token) != TOKEN_LENGTH or not token.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _RAW:
            return None
        signed, mac = raw[:-_MAC], raw[-_MAC:]
        if not hmac.compare_digest(mac, self._mac(signed)):
            return None
        version, expiry_ms = _HEADER.unpack_from(signed)
        if version != _VERSION:
            return None
        expiry = int(expiry_ms) / 1000
        left = expiry - self._clock()
        if left <= 0 or left > MAX_TTL + 1:
            return None
        return expiry
