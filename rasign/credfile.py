"""Write temporary credentials into the shared AWS credentials file, safely.

The Go helper's ``update`` truncated the file in place (a reader or a crash in between saw
an empty or half-written file), took no lock (two writers interleaved), dropped the
file's last line, created ``~/.aws`` with mode 0600 and stopped reading at a 64 KiB line.
This module fixes all of that:

* :func:`rewrite` is a pure text transformation that touches only the managed keys of one
  profile. Every other byte -- other profiles, comments, blank lines, line endings, a
  missing final newline -- is preserved. It reads the file with :mod:`rasign.ini`, the
  model of botocore's reader, so rasign and the AWS SDKs agree on every section.
* :func:`write_profile` takes an advisory lock (a sidecar ``.lock`` file, because the
  credentials file itself is replaced), re-reads the file under the lock, writes a temp
  file in the same directory, fsyncs it, renames it over the original and fsyncs the
  directory. Readers see either the old or the new file, never a mixture. All file work
  goes through :mod:`rasign.fsafe` (no untrusted links, no devices or FIFOs, ownership
  kept or handed to the directory's owner).
* :func:`check_writable` is ``update``'s preflight, run before the first CreateSession.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from rasign import fsafe
from rasign.errors import StoreError
from rasign.ini import IniProblem, check_section_name, check_value, set_values

EXPIRATION_KEY = "x_security_token_expires"
"""Where the expiration goes: the key saml2aws and other helpers use; SDKs ignore it."""


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


def check_profile_name(profile: str) -> str | None:
    """Why ``profile`` cannot be a credentials-file section botocore reads back as that name, or None.

    ``[dev ]`` is section ``"dev "`` to botocore, so a name with surrounding spaces would be
    written as one section and looked up by the SDKs and the AWS CLI as another.
    """
    return check_section_name(profile)


def rewrite(text: str, profile: str, values: Mapping[str, str], *, what: str = "credentials file") -> str:
    """Return ``text`` with ``values`` set in section ``[profile]``; nothing else changes.

    The file is read with the same rules as botocore (:mod:`rasign.ini`): ``[dev] x`` is
    section ``dev``, an indented line after a key continues its value, only ``\\r\\n``,
    ``\\r`` and ``\\n`` end lines. A file botocore would refuse (a section twice, a line
    that is neither key nor header, ...) is refused with the line number instead of being
    "updated" into one the SDKs still cannot read; repeats of a managed key in the profile
    are the exception, since the rewrite removes them.
    """
    try:
        return set_values(text, profile, values)
    except IniProblem as err:
        raise StoreError(
            f"the {what} cannot be read by the AWS SDKs: {err}; nothing was written",
            hint="fix that line, then try again",
        ) from err
    except ValueError as err:
        raise StoreError(str(err)) from err


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


def check_writable(path: str, profile: str | None = None) -> str:
    """Preflight for ``update``: the credentials file, its directory and its lock can be written.

    Runs before the first CreateSession so a bad path costs no PIN and no request. With
    ``profile`` the current content is also read and checked the way the rewrite will
    (UTF-8, a file botocore can read): a file that would be refused after minting is
    refused now. Returns the real path that will be written.
    """
    real = fsafe.check_target(path, WHAT, create_dirs=True)
    real = fsafe.resolve(real, WHAT)
    fsafe.check_target(real + ".lock", "credentials lock file", create_dirs=True, lock=True)
    if profile is not None:
        # A dry run of the rewrite with stand-in values: it refuses what the real one would.
        stand_in = profile_values("preflight", "preflight", "preflight", "preflight")
        rewrite(read_text(real), profile, stand_in)
    return real


def write_profile(path: str, profile: str, values: Mapping[str, str]) -> None:
    """Set ``values`` in ``[profile]`` of the credentials file at ``path``, atomically."""
    write_section(path, profile, values)


def write_section(path: str, section: str, values: Mapping[str, str], *, what: str = WHAT, secret: bool = True) -> None:
    """Set ``values`` in the section whose header is exactly ``[section]`` of the INI file ``path``.

    The one safe writer for AWS INI files: ``update`` uses it for the credentials file
    (section ``NAME``); ``~/.aws/config`` takes the same call with section ``profile NAME``
    and ``secret=False``. Lock, re-read under the lock, botocore-equal rewrite, atomic
    replace through :mod:`rasign.fsafe`.
    """
    problem = check_section_name(section)
    if problem:
        raise StoreError(
            f"invalid profile name {section!r}: {problem}",
            hint="use the name exactly as it appears between the brackets",
        )
    for key, value in values.items():
        problem = check_value(value)
        if problem:
            raise StoreError(f"refusing to write the value of {key}: {problem}")
    ensure_parent(path)
    target = fsafe.resolve(path, what)
    with locked(target):
        text = read_text(target)
        fsafe.write_atomic(target, rewrite(text, section, values, what=what), what, secret=secret)
