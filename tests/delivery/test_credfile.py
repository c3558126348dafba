"""The credentials-file rewrite: every Go ``update`` bug (reference-helper.md 12-13) absent."""

from __future__ import annotations

import configparser
import os
import stat

import pytest

from rasign.credfile import credentials_path, rewrite, write_profile
from rasign.errors import StoreError
from tests.delivery.file_reader import problems_in

NEW = {"aws_access_key_id": "AKIDNEW", "aws_secret_access_key": "SECRETNEW", "aws_session_token": "TOKENNEW"}


def keys(profile: str) -> str:
    return "".join(f"{k} = {v}\n" for k, v in NEW.items())


def test_replaces_in_place_and_keeps_other_keys_and_order():
    text = "[test]\naws_access_key_id = old\ntest_key = test\naws_secret_access_key=old\naws_session_token =old\n"
    assert rewrite(text, "test", NEW) == (
        "[test]\naws_access_key_id = AKIDNEW\ntest_key = test\naws_secret_access_key = SECRETNEW\n"
        "aws_session_token = TOKENNEW\n"
    )


def test_last_line_of_file_is_never_dropped():
    # Go dropped the file's last line when the scan of the section reached it.
    text = "[other]\na = 1\n[test]\naws_access_key_id = old\nregion = eu-west-1"
    out = rewrite(text, "test", NEW)
    assert "region = eu-west-1" in out
    assert out.startswith("[other]\na = 1\n[test]\naws_access_key_id = AKIDNEW\n")
    parsed = configparser.RawConfigParser()
    parsed.read_string(out)
    assert parsed["test"]["aws_session_token"] == "TOKENNEW" and parsed["test"]["region"] == "eu-west-1"


def test_header_as_last_line_gets_keys_not_a_duplicate_header():
    out = rewrite("[a]\nx = 1\n[test]", "test", NEW)
    assert out.count("[test]") == 1
    assert out == "[a]\nx = 1\n[test]\n" + keys("test")


def test_missing_profile_is_appended_after_a_blank_line():
    text = "# my credentials\n[default]\naws_access_key_id = A\n"
    assert rewrite(text, "test profile", NEW) == text + "\n[test profile]\n" + keys("x")


def test_empty_file():
    assert rewrite("", "p", NEW) == "[p]\n" + keys("p")


def test_profile_name_must_match_exactly():
    text = "[test profile]\naws_access_key_id = keep\n"
    out = rewrite(text, "test", NEW)
    assert out.startswith(text) and "[test]\n" in out
    assert "aws_access_key_id = keep" in out


def test_duplicate_sections_are_refused_with_the_line():
    # botocore (strict configparser) refuses the whole file; "updating" one copy would
    # report success for a file the AWS CLI still cannot read.
    text = "[test]\naws_access_key_id = one\n[test]\naws_access_key_id = two\n"
    with pytest.raises(StoreError, match=r"line 3: section \[test\] appears more than once"):
        rewrite(text, "test", NEW)


def test_comments_blank_lines_and_other_profiles_are_byte_identical():
    head = "; top comment\n\n[default]\naws_access_key_id = AKIADEFAULT\n# inline comment\nregion=us-west-2\n\n"
    tail = "\n# about prod\n[prod]\naws_access_key_id = AKIAPROD\n    continuation line\n"
    text = head + "[ci]\n# keep me\naws_session_token = old\nsome = thing\n" + tail
    out = rewrite(text, "ci", NEW)
    assert out.startswith(head) and out.endswith(tail)
    middle = out[len(head) : -len(tail)]
    assert middle == (
        "[ci]\n# keep me\naws_session_token = TOKENNEW\nsome = thing\n"
        "aws_access_key_id = AKIDNEW\naws_secret_access_key = SECRETNEW\n"
    )


def test_new_keys_go_before_trailing_blank_lines_and_comments_of_the_next_section():
    text = "[ci]\nregion = x\n\n# next\n[next]\n"
    assert rewrite(text, "ci", NEW) == "[ci]\nregion = x\n" + keys("ci") + "\n# next\n[next]\n"


def test_crlf_files_stay_crlf():
    text = "[a]\r\nx = 1\r\n[test]\r\naws_access_key_id = old\r\n"
    out = rewrite(text, "test", NEW)
    assert out.count("\r\n") == out.count("\n")
    assert out.startswith("[a]\r\nx = 1\r\n[test]\r\naws_access_key_id = AKIDNEW\r\n")


def test_duplicate_managed_keys_are_collapsed():
    out = rewrite("[t]\naws_session_token = a\naws_session_token = b\n", "t", NEW)
    assert out.count("aws_session_token") == 1


def test_lines_longer_than_64k_are_kept():
    long_value = "v" * 200_000
    text = f"[big]\nblob = {long_value}\n[t]\n"
    out = rewrite(text, "t", NEW)
    assert f"blob = {long_value}\n" in out and "AKIDNEW" in out


def test_expiration_is_written_as_an_sdk_ignored_key(tmp_path):
    path = tmp_path / "credentials"
    values = dict(NEW, x_security_token_expires="2026-11-23T10:00:00Z")
    write_profile(str(path), "p", values)
    parsed = configparser.RawConfigParser()
    parsed.read(path)
    assert parsed["p"]["x_security_token_expires"] == "2026-11-23T10:00:00Z"


def test_creates_directory_0700_and_file_0600(tmp_path):
    path = tmp_path / "home" / ".aws" / "credentials"
    old = os.umask(0o022)
    try:
        write_profile(str(path), "default", NEW)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_existing_file_keeps_its_mode_and_is_replaced_atomically(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[keep]\na = 1\n")
    os.chmod(path, 0o640)
    inode = os.stat(path).st_ino
    write_profile(str(path), "p", NEW)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.stat(path).st_ino != inode  # a new file was renamed into place
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_symlinked_file_updates_the_target(tmp_path):
    target = tmp_path / "real-credentials"
    target.write_text("[keep]\na = 1\n")
    link = tmp_path / "credentials"
    link.symlink_to(target)
    write_profile(str(link), "p", NEW)
    assert link.is_symlink() and "AKIDNEW" in target.read_text()


def test_path_resolution_does_not_need_home_when_env_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "c"))
    monkeypatch.setenv("HOME", "")
    assert credentials_path() == str(tmp_path / "c")
    assert credentials_path(str(tmp_path / "explicit")) == str(tmp_path / "explicit")


@pytest.mark.parametrize("profile", ["", "a]b", "x\ny"])
def test_bad_profile_names_are_refused(tmp_path, profile):
    with pytest.raises(StoreError):
        write_profile(str(tmp_path / "c"), profile, NEW)


def test_values_with_line_breaks_are_refused(tmp_path):
    with pytest.raises(StoreError):
        write_profile(str(tmp_path / "c"), "p", dict(NEW, aws_session_token="a\n[evil]"))


def _hammer(path: str, index: int, rounds: int) -> None:
    for round_ in range(rounds):
        write_profile(
            path,
            f"writer-{index}",
            {
                "aws_access_key_id": f"AKID{index}R{round_}",
                "aws_secret_access_key": "s" * 40,
                "aws_session_token": "t" * 400,
            },
        )


def test_twenty_concurrent_writers_and_a_reader_never_see_a_torn_file(tmp_path):
    import multiprocessing
    import threading

    path = tmp_path / "credentials"
    preamble = "# hand-written\n[default]\naws_access_key_id = AKIAKEEP\nregion = eu-central-1\n"
    path.write_text(preamble)
    problems: list[str] = []
    stop = threading.Event()
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            reads += 1
            problems.extend(problems_in(path.read_text(), preamble, "writer-", 3))

    thread = threading.Thread(target=reader)
    thread.start()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hammer, args=(str(path), i, 10)) for i in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    stop.set()
    thread.join()
    assert all(worker.exitcode == 0 for worker in workers)
    assert problems == []
    assert reads > 10
    parser = configparser.RawConfigParser()
    parser.read(path)
    assert {f"writer-{i}" for i in range(20)} <= set(parser.sections())
    for i in range(20):
        assert parser[f"writer-{i}"]["aws_access_key_id"] == f"AKID{i}R9"
    assert parser["default"]["aws_access_key_id"] == "AKIAKEEP"
