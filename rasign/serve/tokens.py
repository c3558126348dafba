"""IMDSv2 session tokens.

A client PUTs ``/latest/api/token`` with a TTL and must present the token on every GET.
That forces a request/response round trip before credentials flow, which defeats the
classic SSRF trick of making a server fetch a URL for you (no PUT, no custom header).

Tokens are stored as SHA-256 digests: the table never holds a usable token, lookups do
not compare secrets byte by byte, and nothing here can log one by accident. At most
:data:`MAX_TOKENS` live at once; when full, the earliest-expiring one is evicted (the Go
helper's rule, without its habit of logging the evicted token).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

MAX_TOKENS = 256
MIN_TTL = 1
MAX_TTL = 21600
DEFAULT_TTL = 21600


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


class TokenStore:
    """Thread-safe table of live tokens keyed by their digest."""

    def __init__(self, max_tokens: int = MAX_TOKENS, clock=time.monotonic) -> None:
        self._max = max_tokens
        self._clock = clock
        self._expiry: dict[bytes, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()

    def issue(self, ttl: int) -> str:
        """Create a token valid for ``ttl`` seconds (100 URL-safe characters)."""
        token = secrets.token_urlsafe(75)
        now = self._clock()
        with self._lock:
            if len(self._expiry) >= self._max:
                self._purge_locked(now)
            while len(self._expiry) >= self._max:
                oldest = min(self._expiry, key=self._expiry.__getitem__)
                del self._expiry[oldest]
            self._expiry[self._digest(token)] = now + ttl
        return token

    def remaining(self, token: str) -> float | None:
        """Seconds the token has left, or None when unknown or expired."""
        digest = self._digest(token)
        now = self._clock()
        with self._lock:
            expiry = self._expiry.get(digest)
            if expiry is None:
                return None
            if expiry <= now:
                del self._expiry[digest]
                return None
        return expiry - now

    def purge(self) -> int:
        """Drop expired tokens; returns how many."""
        with self._lock:
            return self._purge_locked(self._clock())

    def _purge_locked(self, now: float) -> int:
        dead = [digest for digest, expiry in self._expiry.items() if expiry <= now]
        for digest in dead:
            del self._expiry[digest]
        return len(dead)

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)
