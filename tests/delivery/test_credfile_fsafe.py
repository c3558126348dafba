"""rasign.fsafe, the module every file rasign writes goes through (credentials, lock, cache, token)."""

from __future__ import annotations

import logging
import os
import socket
import stat

import pytest

from rasign import fsafe
from rasign.errors import StoreError, UsageError

root_only = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
OTHER_UID = 65534


def test_write_atomic_creates_with_mode_and_replaces_keeping_mode(tmp_path):
    path = tmp_path / "f"
    fsafe.write_atomic(str(path), "one", "test file")
    assert path.read_text() == "one" and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o640)
    inode = os.stat(path).st_ino
    fsafe.write_atomic(str(path), b"two", "test file", secret=False)
    assert path.read_text() == "two" and stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.stat(path).st_ino != inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_keep_mode_false_forces_the_mode(tmp_path):
    path = tmp_path / "entry"
    path.write_text("x")
    os.chmod(path, 0o644)
    fsafe.write_atomic(str(path), "y", "cache entry", keep_mode=False)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("kind", ["fifo", "socket", "directory"])
def test_non_regular_targets_are_refused_and_left_alone(tmp_path, kind):
    path = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    before = os.lstat(path)
    for call in (
        lambda: fsafe.check_target(str(path), "credentials file"),
        lambda: fsafe.write_atomic(str(path), "secret", "credentials file"),
        lambda: fsafe.read_bytes(str(path), "credentials file"),
        lambda: fsafe.open_lock(str(path), "lock file"),
    ):
        with pytest.raises(StoreError, match="not a regular file"):
            call()
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


def test_error_class_is_the_callers(tmp_path):
    os.mkfifo(tmp_path / "ready")
    with pytest.raises(UsageError):
        fsafe.check_target(str(tmp_path / "ready"), "ready file", error=UsageError)


def test_missing_directory_is_one_line_unless_created(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        fsafe.check_target(str(tmp_path / "no" / "such" / "f"), "ready file")
    assert fsafe.check_target(str(tmp_path / "no" / "f"), "x", create_dirs=True) == str(tmp_path / "no" / "f")
    written = fsafe.write_atomic(str(tmp_path / "a" / "b" / "f"), "x", "x", create_dirs=True)
    assert written == str(tmp_path / "a" / "b" / "f")
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o700


def test_a_file_where_a_directory_belongs_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="not a directory"):
        fsafe.check_target(str(tmp_path / "file" / "f"), "credentials file")
    with pytest.raises(StoreError, match="not a directory|does not exist"):
        fsafe.check_directory(str(tmp_path / "file"), "unix socket directory")


def test_check_directory(tmp_path):
    assert fsafe.check_directory(str(tmp_path), "unix socket directory") == str(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        fsafe.check_directory(str(tmp_path / "missing"), "unix socket directory")


def test_own_symlinks_are_followed_links_at_locks_are_not(tmp_path):
    real = tmp_path / "real"
    real.write_text("old")
    (tmp_path / "link").symlink_to(real)
    assert fsafe.resolve(str(tmp_path / "link"), "f") == str(real)
    fsafe.write_atomic(str(tmp_path / "link"), "new", "f")
    assert real.read_text() == "new" and (tmp_path / "link").is_symlink()
    (tmp_path / "lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoreError, match="symlink"):
        fsafe.open_lock(str(tmp_path / "lock"))
    with pytest.raises(StoreError, match="symlink"):
        fsafe.check_target(str(tmp_path / "lock"), "lock file", lock=True)
    assert not (tmp_path / "elsewhere").exists()


def test_symlink_loops_are_one_line(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(StoreError, match="too many symlinks"):
        fsafe.check_target(str(tmp_path / "a"), "credentials file")


def test_relative_and_dotdot_links_resolve_like_the_kernel(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "target").write_text("t")
    (tmp_path / "d" / "up").symlink_to("../target")
    assert fsafe.resolve(str(tmp_path / "d" / "up"), "f") == str(tmp_path / "target")
    assert os.path.realpath(tmp_path / "d" / "up") == str(tmp_path / "target")


@pytest.mark.parametrize("target", [".", "..", "../.."])
def test_a_link_that_names_a_directory_is_refused_as_a_directory(tmp_path, target):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "link").symlink_to(target)
    with pytest.raises(StoreError, match="is a directory"):
        fsafe.locate(str(tmp_path / "d" / "link"), "credentials file")


def test_the_root_directory_is_refused_as_a_directory():
    with pytest.raises(StoreError, match="is a directory"):
        fsafe.locate("/", "credentials file")


def test_an_absolute_link_in_the_middle_restarts_at_the_root(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    (tmp_path / "abs").symlink_to(tmp_path / "real")
    with fsafe.locate(str(tmp_path / "abs" / "f"), "f") as location:
        assert location.directory == os.path.realpath(tmp_path / "real") and location.name == "f"
        assert location.existing is not None and location.missing_dirs == ()


def test_missing_directories_are_listed_but_never_behind_a_dotdot(tmp_path):
    with fsafe.locate(str(tmp_path / "a" / "b" / "f"), "f", allow_missing_dirs=True) as location:
        assert location.missing_dirs == ("a", "b") and location.existing is None
        assert location.full() == str(tmp_path / "a" / "b" / "f")
    (tmp_path / "via").symlink_to("nodir/../f")  # the kernel cannot walk through nodir either
    with pytest.raises(StoreError, match="does not exist"):
        fsafe.locate(str(tmp_path / "via"), "f", allow_missing_dirs=True)


def test_a_name_the_kernel_refuses_is_one_line(tmp_path):
    with pytest.raises(StoreError, match="cannot use the credentials file .*: File name too long"):
        fsafe.locate(str(tmp_path / ("x" * 300) / "f"), "credentials file")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_every_refusal_closes_the_descriptors_it_opened(tmp_path):
    (tmp_path / "file").write_text("")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "dot").symlink_to(".")
    refused = [
        tmp_path / "file" / "f",
        tmp_path / "missing" / "f",
        tmp_path / "a",
        tmp_path / "dot",
        tmp_path / ("x" * 300) / "f",
    ]
    before = sorted(os.listdir("/proc/self/fd"))
    for path in refused:
        with pytest.raises(StoreError):
            fsafe.locate(str(path), "f")
    with fsafe.locate(str(tmp_path / "file"), "f"):
        pass
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_create_exclusive_never_overwrites(tmp_path):
    path = tmp_path / "token"
    assert fsafe.create_exclusive(str(path), "abc", "auth token file") is True
    assert fsafe.create_exclusive(str(path), "xyz", "auth token file") is False
    assert path.read_text() == "abc" and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_exposed_secret_file_warns_once(tmp_path, caplog):
    path = tmp_path / "credentials"
    path.write_text("")
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="rasign.fsafe"):
        fsafe.write_atomic(str(path), "s1", "credentials file")
        fsafe.write_atomic(str(path), "s2", "credentials file")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and "0644" in warnings[0]
    assert "s1" not in warnings[0]


def test_read_bytes_of_missing_file_is_none(tmp_path):
    assert fsafe.read_bytes(str(tmp_path / "nope"), "f") is None
    assert fsafe.read_bytes(str(tmp_path / "no" / "dir"), "f") is None


@root_only
def test_root_refuses_links_planted_by_another_user(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, OTHER_UID, OTHER_UID)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = home / "credentials"
    link.symlink_to(victim)
    os.lchown(link, OTHER_UID, OTHER_UID)
    with pytest.raises(StoreError, match="belongs to uid 65534"):
        fsafe.write_atomic(str(link), "secret", "credentials file")
    assert victim.read_text() == "precious"
    # An intermediate directory link planted by the user is refused the same way.
    (home / "aws").symlink_to(tmp_path)
    os.lchown(home / "aws", OTHER_UID, OTHER_UID)
    with pytest.raises(StoreError, match="belongs to uid 65534"):
        fsafe.write_atomic(str(home / "aws" / "victim"), "secret", "credentials file")
    assert victim.read_text() == "precious"


@root_only
def test_root_creates_files_and_directories_owned_by_the_directory_owner(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, OTHER_UID, OTHER_UID)
    path = fsafe.write_atomic(str(home / ".aws" / "credentials"), "s", "credentials file", create_dirs=True)
    for made in (home / ".aws", path):
        info = os.stat(made)
        assert (info.st_uid, info.st_gid) == (OTHER_UID, OTHER_UID)
    fd = fsafe.open_lock(str(home / ".aws" / "credentials.lock"))
    os.close(fd)
    assert os.stat(home / ".aws" / "credentials.lock").st_uid == OTHER_UID


@root_only
def test_existing_file_keeps_owner_and_group(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    os.chown(path, OTHER_UID, 100)
    fsafe.write_atomic(str(path), "y", "f")
    info = os.stat(path)
    assert (info.st_uid, info.st_gid) == (OTHER_UID, 100)


@root_only
def test_root_refuses_a_foreign_hard_link_but_not_the_owners_own(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, OTHER_UID, OTHER_UID)
    (tmp_path / "root-file").write_text("root's")
    os.link(tmp_path / "root-file", home / "credentials")
    with pytest.raises(StoreError, match="hard link"):
        fsafe.write_atomic(str(home / "credentials"), "x", "credentials file")
    with pytest.raises(StoreError, match="hard link"):
        fsafe.read_bytes(str(home / "credentials"), "credentials file")
    assert (tmp_path / "root-file").read_text() == "root's"
    os.unlink(home / "credentials")
    (home / "own").write_text("mine")
    os.chown(home / "own", OTHER_UID, OTHER_UID)
    os.link(home / "own", home / "own-backup")
    fsafe.write_atomic(str(home / "own"), "new", "credentials file")
    assert (home / "own").read_text() == "new" and (home / "own-backup").read_text() == "mine"


def test_messages_about_paths_carry_no_terminal_escapes(tmp_path):
    evil = tmp_path / "x\x1b]0;pwned\x07"
    os.mkfifo(evil)
    with pytest.raises(StoreError) as caught:
        fsafe.check_target(str(evil), "credentials file")
    assert "\x1b" not in caught.value.one_line() and "\x07" not in caught.value.one_line()
