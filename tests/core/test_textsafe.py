"""Outside text is made printable and bounded before it reaches a terminal or a log."""

from __future__ import annotations

from rasign.textsafe import clean, is_clean


def test_escape_sequences_and_nul_are_neutralised():
    hostile = "denied\x1b]0;owned\x07 \x1b[2J\x00end"
    out = clean(hostile)
    assert "\x1b" not in out and "\x00" not in out and "\x07" not in out
    assert out.startswith("denied?]0;owned?")
    assert is_clean(out)


def test_line_breaks_fold_to_one_line():
    assert clean("a\nb\r\nc\u2028d\u2029e\x85f") == "a b c d e f"


def test_bidi_overrides_are_visible_not_obeyed():
    assert clean("abc\u202egnp.exe") == "abc?gnp.exe"


def test_long_text_is_cut_with_a_count():
    out = clean("x" * 200_000, limit=100)
    assert out.startswith("x" * 100) and out.endswith("(199900 more characters)")
    assert len(out) < 140


def test_bytes_are_decoded_with_replacement():
    assert clean(b"ok \xff\xfe") == "ok \ufffd\ufffd"


def test_plain_text_is_unchanged():
    text = "AccessDeniedException: Untrusted signing certificate (é, 日本)"
    assert clean(text) == text
