"""Make text that came from outside safe to print on a terminal or write to a log.

A server, a proxy, a file or a token can put anything in the text rasign shows: ANSI and
OSC escape sequences (which can retitle a terminal, rewrite what is on screen or, on some
terminals, write to the clipboard), NUL bytes, bidirectional overrides that reorder what is
read, line breaks that forge extra log lines, and messages of megabytes. Every such text
passes through :func:`clean` before it reaches stderr or a log record.

Standard library only: the CLI error path imports it.
"""

from __future__ import annotations

import unicodedata

DEFAULT_LIMIT = 500
"""Characters kept from one outside text; the rest is replaced by a count."""

# Unicode format characters that change how the surrounding text is displayed or read:
# bidi embeddings/overrides/isolates, and zero-width ones that hide content.
_INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
)


def _unsafe(char: str) -> bool:
    category = unicodedata.category(char)
    # Cc: C0/C1 controls incl. ESC, NUL, CR, LF, DEL; Zl/Zp: U+2028/U+2029 line breaks;
    # Cs: lone surrogates (from surrogateescape decoding), never printable.
    return category in ("Cc", "Zl", "Zp", "Cs") or char in _INVISIBLE


def clean(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """Return ``text`` on one printable line, at most about ``limit`` characters.

    Control and format characters become ``?`` (so their presence is still visible),
    runs of white space fold to one space, and a text longer than ``limit`` is cut with a
    note of how much was left out. ``bytes`` are decoded as UTF-8 with replacement.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = str(text)
    out: list[str] = []
    for char in text:
        if char in "\t\n\r\x0b\x0c\x85\u2028\u2029":
            out.append(" ")
        elif _unsafe(char):
            out.append("?")
        else:
            out.append(char)
    folded = " ".join("".join(out).split())
    if limit > 0 and len(folded) > limit:
        dropped = len(folded) - limit
        folded = f"{folded[:limit]}… ({dropped} more characters)"
    return folded


def is_clean(text: str) -> bool:
    """True when ``text`` has no control or format character :func:`clean` would replace."""
    return not any(_unsafe(char) or char in "\t\n\r\x0b\x0c\x85" for char in text)
