"""Write temporary credentials into the shared AWS credentials file, safely.

The Go helper's ``update`` truncated the file in place (a reader or a crash in between saw
an empty or half-written file), took no lock (two writers interleaved), dropped the
file's last line, created ``~/.aws`` with mode 0600 and stopped reading at a 64 KiB line.
This module fixes all of that:

* :func:`rewrite` is a pure text transformation that touches only the managed keys of one
  profile. Every other byte -- other profiles, comments, blank lines, line endings, a
  missing final newline -- is preserved.
* :func:`write_profile` takes an advisory lock (a sidecar ``.lock`` file, because the
  credentials file itself is replaced), re-reads the file under the lock, writes a temp
  file in the same directory, fsyncs it, renames it over the original and fsyncs the
  directory. Readers see either the old or the new file, never a mixture.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping

from rasign.errors import StoreError

MANAGED_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
EXPIRATION_KEY = "x_security_token_expires"
"""Where the expiration goes: the key saml2aws and other helpers use; SDKs ignore it."""

_HEADER = re.compile(r"^\s*\[(?P<name>[^\]]*)\]\s*(?:[#;].*)?$")
_KEY = re.compile(r"^(?P<key>[^=:#;\s\[][^=:]*?)\s*[=:]")


def credentials_path(explicit: str | None = None) -> str:
    """The file ``update`` writes: ``--credentials-file``, then the env var, then ~/.aws.

    The home directory is looked up only when it is actually needed (the Go helper
    failed without a home directory even when the env var was set).
    """
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    env = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    home = os.path.expanduser("~")
    if home == "~" or not home:
        raise StoreError(
            "cannot locate the home directory for ~/.aws/credentials",
            hint="set AWS_SHARED_CREDENTIALS_FILE or pass --credentials-file",
        )
    return os.path.join(home, ".aws", "credentials")


def profile_values(
    access_key_id: str, secret_access_key: str, session_token: str, expiration: str | None = None
) -> dict[str, str]:
    """The key/value lines ``update`` manages, in the order they are written."""
    values = {
        "aws_access_key_id": access_key_id,
        "aws_secret_access_key": secret_access_key,
        "aws_session_token": session_token,
    }
    if expiration:
        values[EXPIRATION_KEY] = expiration
    return values


def _newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _line_body(line: str) -> str:
    return line.rstrip("\r\n")


def _key_of(line: str) -> str | None:
    match = _KEY.match(line)
    return match.group("key").strip().lower() if match else None


def _header_name(line: str) -> str | None:
    match = _HEADER.match(_line_body(line))
    return match.group("name").strip() if match else None


def rewrite(text: str, profile: str, values: Mapping[str, str]) -> str:
    """Return ``text`` with ``values`` set in section ``[profile]``; nothing else changes.

    * Only the first ``[profile]`` section is updated (what configparser-based readers
      would merge anyway); later duplicates are left alone.
    * An existing managed key is replaced in place, keeping its position; a second
      occurrence of the same key in the section is removed (it would shadow or conflict).
    * Keys not present yet are inserted after the section's last key line, before any
      trailing blank lines or comments that visually belong to the next section.
    * A missing section is appended at the end, separated by one blank line.
    * The file's line-ending style (LF or CRLF) is used for new lines.
    """
    newline = _newline_of(text)
    lines = text.splitlines(keepends=True)
    managed = {key.lower(): key for key in values}

    start = None
    for index, line in enumerate(lines):
        if _header_name(line) == profile:
            start = index
            break

    if start is None:
        out = text
        if out and not out.endswith(("\n", "\r")):
            out += newline
        if out.strip() and not out.endswith((newline * 2, "\n\n")):
            out += newline
        block = [f"[{profile}]"] + [f"{key} = {value}" for key, value in values.items()]
        return out + newline.join(block) + newline

    end = len(lines)
    for index in range(start + 1, len(lines)):
        if _header_name(lines[index]) is not None:
            end = index
            break

    written: set[str] = set()
    section: list[str] = []
    for line in lines[start + 1 : end]:
        key = _key_of(line)
        if key is not None and key in managed:
            if key in written:
                continue
            ending = line[len(_line_body(line)) :] or newline
            section.append(f"{managed[key]} = {values[managed[key]]}{ending}")
            written.add(key)
        else:
            section.append(line)

    missing = [key for key in values if key.lower() not in written]
    if missing:
        insert_at = 0
        for index, line in enumerate(section):
            body = _line_body(line).strip()
            if body and not body.startswith(("#", ";")):
                insert_at = index + 1
        if insert_at and not section[insert_at - 1].endswith(("\n", "\r")):
            section[insert_at - 1] += newline
        header = lines[start]
        if insert_at == 0 and not header.endswith(("\n", "\r")):
            header += newline
            lines[start] = header
        new_lines = [f"{key} = {values[key]}{newline}" for key in missing]
        section[insert_at:insert_at] = new_lines
        # A section that ended the file without a final newline gets one only where we
        # appended text after it; nothing else changes.
    return "".join(lines[:start + 1] + section + lines[end:])


# --------------------------------------------------------------------------- file I/O


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold an exclusive advisory lock for ``path`` (a sidecar ``<path>.lock`` file).

    The lock cannot be on the credentials file itself: it is replaced by rename, so a
    lock on the old inode would not exclude a writer that opened the new one.
    """
    lock_path = path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # Windows: msvcrt locks a byte range instead
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def ensure_parent(path: str) -> None:
    """Create the directory holding ``path`` with mode 0700 (the Go helper used 0600)."""
    parent = os.path.dirname(path) or "."
    if os.path.isdir(parent):
        return
    try:
        os.makedirs(parent, mode=0o700, exist_ok=True)
        os.chmod(parent, 0o700)
    except OSError as err:
        raise StoreError(
            f"cannot create the directory {parent}: {err.strerror or err}",
            hint="create it yourself or choose another --credentials-file",
        ) from err


def _real_target(path: str) -> str:
    """Follow a symlinked credentials file so we replace the target, not the link."""
    try:
        return os.path.realpath(path) if os.path.islink(path) else path
    except OSError:
        return path


def read_text(path: str) -> str:
    """Read the whole file (any line length), or '' when it does not exist yet."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return ""
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror or err}", hint="check its permissions") from err
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise StoreError(
            f"{path} is not UTF-8 text (byte {err.start}); refusing to rewrite it",
            hint="fix or move the file",
        ) from err


def atomic_write(path: str, text: str, *, default_mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` via temp file + fsync + rename + directory fsync.

    An existing file keeps its permission bits (and owner/group where we may set them);
    a new one gets ``default_mode``.
    """
    directory = os.path.dirname(path) or "."
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        existing = None
    except OSError as err:
        raise StoreError(f"cannot stat {path}: {err.strerror or err}") from err
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        mode = stat.S_IMODE(existing.st_mode) if existing else default_mode
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        else:  # Windows: only the read-only bit exists; ACLs of the directory apply
            os.chmod(tmp, mode)
        if existing is not None and hasattr(os, "fchown"):
            with contextlib.suppress(OSError):
                os.fchown(fd, existing.st_uid, existing.st_gid)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = ""
        _fsync_directory(directory)
    except OSError as err:
        raise StoreError(
            f"cannot write {path}: {err.strerror or err}",
            hint="check that the directory is writable and the disk is not full",
        ) from err
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _fsync_directory(directory: str) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # not supported on this platform; the rename itself is still atomic
    try:
        os.fsync(dfd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(dfd)


def write_profile(path: str, profile: str, values: Mapping[str, str]) -> None:
    """Set ``values`` in ``[profile]`` of the credentials file at ``path``, atomically."""
    if not profile or any(ch in profile for ch in "[]\r\n"):
        raise StoreError(f"invalid profile name {profile!r}", hint="use a name without brackets or newlines")
    for key, value in values.items():
        if any(ch in value for ch in "\r\n"):
            raise StoreError(f"refusing to write a value with a line break for {key}")
    ensure_parent(path)
    target = _real_target(path)
    with locked(target):
        text = read_text(target)
        atomic_write(target, rewrite(text, profile, values))
