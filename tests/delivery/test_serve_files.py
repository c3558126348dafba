"""serve's own files (ready file, auth token file, unix-socket directory) go through fsafe and are
checked before the first CreateSession: a bad one is one stderr line, no PIN, no request."""

from __future__ import annotations

import os
import stat

import pytest

from rasign.commands.serve import MIN_TOKEN_LENGTH, load_or_create_token
from rasign.errors import StoreError
from tests.conftest import emulator_args, run_rasign
from tests.delivery.helpers import identity_args

GOOD_TOKEN = "t" * MIN_TOKEN_LENGTH


def token_file(tmp_path, content: str = GOOD_TOKEN, mode: int = 0o600):
    path = tmp_path / "auth-token"
    path.write_text(content)
    os.chmod(path, mode)
    return path


def test_a_good_token_file_is_read(tmp_path):
    path = token_file(tmp_path, GOOD_TOKEN + "\n")
    assert load_or_create_token(str(path)) == (GOOD_TOKEN, str(path))


def test_a_missing_token_file_is_created_private_with_a_long_token(tmp_path):
    token, path = load_or_create_token(str(tmp_path / "new-token"))
    assert len(token) >= MIN_TOKEN_LENGTH and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_token(path) == (token, path)


@pytest.mark.parametrize(
    "content, mode, words",
    [
        (GOOD_TOKEN, 0o644, "readable or writable by group or others"),
        (GOOD_TOKEN, 0o620, "readable or writable by group or others"),
        ("123456789", 0o600, f"at least {MIN_TOKEN_LENGTH}"),
        ("", 0o600, "is empty"),
        ("a b" * 20, 0o600, "printable ASCII"),
    ],
)
def test_bad_token_files_are_refused(tmp_path, content, mode, words):
    path = token_file(tmp_path, content, mode)
    with pytest.raises(StoreError, match=words) as caught:
        load_or_create_token(str(path))
    assert content.strip() == "" or content not in caught.value.one_line()  # never echo the token


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_a_token_file_owned_by_another_user_is_refused(tmp_path):
    path = token_file(tmp_path)
    os.chown(path, 65534, 65534)
    with pytest.raises(StoreError, match="belongs to uid 65534"):
        load_or_create_token(str(path))


def test_a_fifo_as_token_file_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(StoreError, match="FIFO"):
        load_or_create_token(str(tmp_path / "fifo"))


@pytest.fixture
def counting_emulator(make_emulator):
    return make_emulator()


@pytest.mark.network
@pytest.mark.parametrize("case", ["ready-dir", "ready-fifo", "socket-dir", "token-mode", "token-short"])
def test_serve_checks_its_files_before_any_request(counting_emulator, identity, tmp_path, case):
    cert, key = identity
    extra: list[str]
    if case == "ready-dir":
        extra, words = ["--ready-file", str(tmp_path / "missing" / "ready.json")], "does not exist"
    elif case == "ready-fifo":
        os.mkfifo(tmp_path / "ready.json")
        extra, words = ["--ready-file", str(tmp_path / "ready.json")], "FIFO"
    elif case == "socket-dir":
        extra, words = ["--unix-socket", str(tmp_path / "missing" / "s.sock")], "does not exist"
    elif case == "token-mode":
        extra, words = ["--ecs", "--auth-token-file", str(token_file(tmp_path, mode=0o640))], "chmod 600"
    else:
        extra, words = ["--ecs", "--auth-token-file", str(token_file(tmp_path, "short"))], "at least"
    result = run_rasign(
        "serve", "--port", "0", *extra, *identity_args(cert, key), *emulator_args(counting_emulator), timeout=60
    )
    assert result.returncode == 13, result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert counting_emulator.requests == []
