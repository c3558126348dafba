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
import os
import re
import stat
from collections.abc import Iterator, Mapping

from rasign import fsafe
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

WHAT = "credentials file"


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold an exclusive advisory lock for ``path`` (a sidecar ``<path>.lock`` file).

    The lock cannot be on the credentials file itself: it is replaced by rename, so a
    lock on the old inode would not exclude a writer that opened the new one. The lock is
    opened with ``O_NOFOLLOW`` and must be a regular file (see :func:`rasign.fsafe.open_lock`).
    """
    with fsafe.locked(path + ".lock", "credentials lock file"):
        yield


def ensure_parent(path: str) -> None:
    """Create the directory holding ``path`` with mode 0700 (the Go helper used 0600)."""
    fsafe.ensure_directory(os.path.dirname(os.path.abspath(path)) or ".", "credentials directory")


def read_text(path: str) -> str:
    """Read the whole file (any line length), or '' when it does not exist yet."""
    data = fsafe.read_bytes(path, WHAT)
    if data is None:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise StoreError(
            f"{path} is not UTF-8 text (byte {err.start}); refusing to rewrite it",
            hint="fix or move the file",
        ) from err


def atomic_write(path: str, text: str, *, default_mode: int = 0o600, secret: bool = True) -> None:
    """Replace ``path`` with ``text`` atomically (kept for callers; see :func:`rasign.fsafe.write_atomic`)."""
    fsafe.write_atomic(path, text, WHAT if secret else "file", mode=default_mode, secret=secret)


def check_writable(path: str) -> str:
    """Preflight for ``update``: the credentials file, its directory and its lock can be written.

    Runs before the first CreateSession so a bad path costs no PIN and no request.
    Returns the real path that will be written.
    """
    real = fsafe.check_target(path, WHAT, create_dirs=True)
    real = fsafe.resolve(real, WHAT)
    fsafe.check_target(real + ".lock", "credentials lock file", create_dirs=True, lock=True)
    return real


def write_profile(path: str, profile: str, values: Mapping[str, str]) -> None:
    """Set ``values`` in ``[profile]`` of the credentials file at ``path``, atomically."""
    if not profile or any(ch in profile for ch in "[]\r\n"):
        raise StoreError(f"invalid profile name {profile!r}", hint="use a name without brackets or newlines")
    for key, value in values.items():
        if any(ch in value for ch in "\r\n"):
            raise StoreError(f"refusing to write a value with a line break for {key}")
    ensure_parent(path)
    target = fsafe.resolve(path, WHAT)
    with locked(target):
        text = read_text(target)
        fsafe.write_atomic(target, rewrite(text, profile, values), WHAT)
