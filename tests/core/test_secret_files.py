"""PIN and password files: every bad file is a one-line error that never shows the content."""

from __future__ import annotations

import os

import pytest

from rasign.errors import KeyLoadError
from rasign.secrets import read_secret_file


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"123456\n", "123456"),
        (b"123456\r\n", "123456"),
        (b"123456", "123456"),
        (b"\xef\xbb\xbf123456\n", "123456"),
        ("pässwörd\n".encode(), "pässwörd"),
        (b"two\nlines\n", "two\nlines"),
    ],
)
def test_good_files(tmp_path, content, expected):
    path = tmp_path / "pin"
    path.write_bytes(content)
    assert read_secret_file(str(path)) == expected


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe1\x002\x003\x00", "not UTF-8"),
        (b"12\x8034", "not UTF-8"),
        (b"12\x0034\n", "NUL byte"),
    ],
)
def test_bad_content(tmp_path, content, words):
    path = tmp_path / "pin"
    path.write_bytes(content)
    with pytest.raises(KeyLoadError) as caught:
        read_secret_file(str(path), "PIN")
    message = caught.value.one_line()
    assert words in message and str(path) in message
    assert "12" not in message.replace(str(path), "")


def test_missing_file(tmp_path):
    with pytest.raises(KeyLoadError, match="cannot read the PKCS#8 password file"):
        read_secret_file(str(tmp_path / "absent"), "PKCS#8 password")


def test_directory(tmp_path):
    with pytest.raises(KeyLoadError, match="not a regular file"):
        read_secret_file(str(tmp_path), "PIN")


def test_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(KeyLoadError, match="not a regular file"):
        read_secret_file(str(fifo), "PIN")


def test_huge_file(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"1" * (1 << 20))
    with pytest.raises(KeyLoadError, match="more than the 65536"):
        read_secret_file(str(path), "PIN")


def test_pin_variable_with_non_utf8_bytes_is_a_clean_error(monkeypatch):
    from rasign.backends.pkcs11.pins import _env_source
    from rasign.errors import ConfigError

    monkeypatch.setenv("RASIGN_TEST_PIN_BYTES", "12\udcff34")  # what os.environ holds for b"12\xff34"
    source = _env_source("RASIGN_TEST_PIN_BYTES", required=True)
    with pytest.raises(ConfigError) as caught:
        source.read()
    assert "not UTF-8" in caught.value.one_line() and "12" not in caught.value.one_line().replace("UTF-8", "")
