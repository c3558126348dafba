"""``rasign update`` against a hostile directory owner and odd targets (issue 9).

Every case runs the real CLI against a private emulator that counts requests. A refused
target must give one stderr line and a stable exit code, change nothing on disk and send
no request (the checks run before the first CreateSession). The uid cases need root: they
plant links as uid 65534 in a directory it owns, the way a user can in their own ~/.aws.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import emulator_args, run_rasign
from tests.delivery.conftest import identity, make_emulator  # noqa: F401 - fixtures
from tests.delivery.helpers import identity_args

pytestmark = pytest.mark.network

OTHER = 65534
STORE_ERROR = 13
root_only = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")


@pytest.fixture
def quiet_emulator(make_emulator):  # noqa: F811 - fixture imported above
    return make_emulator()


def update(emu, cert, key, path: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_rasign(
        "update",
        "--once",
        "--credentials-file",
        str(path),
        "--max-attempts",
        "1",
        *extra,
        *identity_args(cert, key),
        *emulator_args(emu),
    )


def assert_refused(result, emu, *, code: int = STORE_ERROR, words: str = "") -> None:
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("rasign: error:"), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert words in result.stderr
    assert emu.requests == [], "a request was sent before the local check"


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its type, owner and content (for regular files)."""
    found = {}
    for path in [root, *root.rglob("*")]:
        info = os.lstat(path)
        content = path.read_bytes() if stat.S_ISREG(info.st_mode) else os.readlink(path) if path.is_symlink() else b""
        found[str(path)] = (stat.S_IFMT(info.st_mode), info.st_uid, info.st_ino, content)
    return found


def user_home(tmp_path: Path) -> Path:
    """A directory owned by uid 65534, as a user's ~/.aws is owned by the user."""
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, OTHER, OTHER)
    return home


def plant(link: Path, target: Path) -> None:
    link.symlink_to(target)
    os.lchown(link, OTHER, OTHER)


@root_only
@pytest.mark.parametrize("where", ["credentials", "credentials.lock"])
def test_root_does_not_follow_a_link_the_owner_planted(quiet_emulator, identity, tmp_path, where):  # noqa: F811
    cert, key = identity
    home = user_home(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "shadow"
    victim.write_text("root:precious\n")
    missing = outside / "new-root-file"
    if where == "credentials":
        plant(home / where, victim)
    else:
        (home / "credentials").write_text("[keep]\na = 1\n")
        os.chown(home / "credentials", OTHER, OTHER)
        plant(home / where, missing)  # a dangling link: following it would create a root-owned file
    before = snapshot(outside)
    result = update(quiet_emulator, cert, key, home / "credentials")
    assert_refused(result, quiet_emulator, words="uid 65534" if where == "credentials" else "symlink")
    assert snapshot(outside) == before
    assert not missing.exists()


@root_only
def test_root_does_not_follow_a_planted_directory_link(quiet_emulator, identity, tmp_path):  # noqa: F811
    cert, key = identity
    home = user_home(tmp_path)
    system = tmp_path / "etc"
    system.mkdir()
    plant(home / ".aws", system)
    result = update(quiet_emulator, cert, key, home / ".aws" / "credentials")
    assert_refused(result, quiet_emulator, words="uid 65534")
    assert list(system.iterdir()) == []


@root_only
def test_root_created_file_directory_and_lock_belong_to_the_user(quiet_emulator, identity, tmp_path):  # noqa: F811
    cert, key = identity
    home = user_home(tmp_path)
    path = home / ".aws" / "credentials"
    result = update(quiet_emulator, cert, key, path)
    assert result.returncode == 0, result.stderr
    for made in (home / ".aws", path, home / ".aws" / "credentials.lock"):
        info = os.stat(made)
        assert (info.st_uid, info.st_gid) == (OTHER, OTHER), made
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home / ".aws").st_mode) == 0o700
    assert [p.name for p in (home / ".aws").iterdir() if p.name.endswith(".tmp")] == []


@root_only
def test_root_keeps_the_owner_of_an_existing_file(quiet_emulator, identity, tmp_path):  # noqa: F811
    cert, key = identity
    home = user_home(tmp_path)
    path = home / "credentials"
    path.write_text("[keep]\na = 1\n")
    os.chown(path, OTHER, OTHER)
    os.chmod(path, 0o600)
    result = update(quiet_emulator, cert, key, path)
    assert result.returncode == 0, result.stderr
    assert os.stat(path).st_uid == OTHER and "[keep]\na = 1\n" in path.read_text()


def _make_target(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif kind == "char-device":
        # A private node in tmp with an unassigned number (major 240 is for local use), never a real device.
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(240, 0))
        except PermissionError:
            pytest.skip("mknod is not permitted here")


@pytest.mark.parametrize("kind", ["char-device", "fifo", "socket", "directory"])
@pytest.mark.parametrize("where", ["credentials", "credentials.lock"])
def test_non_regular_targets_are_refused_before_any_request(quiet_emulator, identity, tmp_path, kind, where):  # noqa: F811
    cert, key = identity
    box = tmp_path / "box"
    box.mkdir()
    _make_target(kind, box / where)
    before = snapshot(box)
    result = update(quiet_emulator, cert, key, box / "credentials")
    assert_refused(result, quiet_emulator, words="not a regular file")
    assert snapshot(box) == before


def test_a_file_where_the_directory_should_be(quiet_emulator, identity, tmp_path):  # noqa: F811
    cert, key = identity
    (tmp_path / "aws").write_text("not a directory")
    result = update(quiet_emulator, cert, key, tmp_path / "aws" / "credentials")
    assert_refused(result, quiet_emulator, words="not a directory")


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
def test_unwritable_credentials_directory_is_one_line_not_internal_error(quiet_emulator, identity, tmp_path):  # noqa: F811
    cert, key = identity
    box = tmp_path / "locked"
    box.mkdir()
    # An immutable directory is unwritable even for root, so the test works as any user.
    if subprocess.run(["chattr", "+i", str(box)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i not supported on this file system")
    try:
        result = update(quiet_emulator, cert, key, box / "credentials")
    finally:
        subprocess.run(["chattr", "-i", str(box)], check=False)
    assert_refused(result, quiet_emulator, words="not writable")


def test_group_readable_file_gets_one_warning_and_keeps_its_mode(quiet_emulator, identity, tmp_path):  # noqa: F811
    cert, key = identity
    path = tmp_path / "credentials"
    path.write_text("[keep]\na = 1\n")
    os.chmod(path, 0o644)
    result = update(quiet_emulator, cert, key, path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "warning" in line]
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and "0644" in warnings[0], result.stderr
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert quiet_emulator.create_session_count == 1


@pytest.mark.parametrize(
    "content, words",
    [
        (b"[default]\naws_access_key_id = A\n[default]\n", "line 3"),
        (b"[default]\nregion = caf\xe9\n", "not UTF-8"),
    ],
)
def test_a_file_botocore_cannot_read_is_refused_before_any_request(quiet_emulator, identity, tmp_path, content, words):  # noqa: F811
    cert, key = identity
    path = tmp_path / "credentials"
    path.write_bytes(content)
    result = update(quiet_emulator, cert, key, path)
    assert_refused(result, quiet_emulator, words=words)
    assert path.read_bytes() == content
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@root_only
def test_root_does_not_rewrite_a_hard_link_to_a_root_file(quiet_emulator, identity, tmp_path):  # noqa: F811
    cert, key = identity
    home = user_home(tmp_path)
    root_file = tmp_path / "root-credentials"
    root_file.write_text("[root]\naws_access_key_id = AKIAROOT\n")
    os.chmod(root_file, 0o600)
    os.link(root_file, home / "credentials")  # what the user can do where protected_hardlinks is off
    result = update(quiet_emulator, cert, key, home / "credentials")
    assert_refused(result, quiet_emulator, words="hard link")
    assert root_file.read_text() == "[root]\naws_access_key_id = AKIAROOT\n"
    assert os.stat(root_file).st_nlink == 2
