"""Log records cannot carry terminal escapes, whatever text a message formats in."""

from __future__ import annotations

from rasign import logs


def test_escapes_in_a_log_message_are_defanged(capsys):
    logger = logs.configure(debug=True)
    try:
        logs.get_logger("test").debug("GET %s", "/latest/\x1b]0;owned\x07\x1b[2J\u202e")
        logs.get_logger("test").debug("canonical request:\nPOST\n/sessions")
    finally:
        logger.handlers.clear()
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    assert "/latest/?]0;owned??[2J?" in err
    assert "canonical request:\nPOST\n/sessions" in err


def test_clean_text_is_returned_unchanged():
    text = "plain line\twith a tab\nand a second line"
    assert logs.defang(text) is text
