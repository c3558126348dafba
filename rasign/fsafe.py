"""The one way rasign writes files: safe against planted links, odd targets and torn writes.

rasign writes secrets (the credentials file, cache entries, serve's auth token) and runs
as root often enough (``update`` from a system timer, ``serve`` as a system service) that
every write must hold up against the owner of the target directory:

* **Planted symlinks.** A user who owns ``~/.aws`` can replace ``credentials`` or
  ``credentials.lock`` by a link to ``/etc/shadow``; root following it would overwrite or
  create a root-owned file anywhere. Paths are therefore resolved one component at a time
  relative to directory descriptors opened with ``O_DIRECTORY|O_NOFOLLOW``, and a symlink
  is followed only when it belongs to the current user or to root (stricter than the
  kernel's ``protected_symlinks``, which trusts links owned by the directory's owner).
  Every later operation (open, create, rename, chown) is relative to that descriptor, so
  swapping a directory for a link after the check changes nothing.
* **Non-regular targets.** A device, FIFO, socket or directory where a file is expected
  is refused with one line before anything else happens (a FIFO would block a reader; a
  device would be replaced by a regular file full of credentials).
* **Torn writes.** Content goes to a temp file in the same directory, is fsynced, renamed
  over the target and the directory is fsynced: readers see the old or the new file.
* **Ownership.** An existing file keeps its mode, owner and group. A file (or directory)
  root creates in a directory owned by a user belongs to that user, who could otherwise
  not read their own credentials.
* **Exposure.** Writing secrets into a file group or others can read is logged as a
  warning, once per path and process.

Standard library only (plus ``rasign.errors``): the cache-hit path of
``credential-process`` imports this module and must stay cheap.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets as _random
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from rasign.errors import RasignError, StoreError
from rasign.textsafe import clean

log = logging.getLogger("rasign.fsafe")

MAX_SYMLINK_HOPS = 40
"""The kernel's limit (MAXSYMLINKS); more links than this is a loop."""

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIR_FD = bool(_O_DIRECTORY and _O_NOFOLLOW and os.open in os.supports_dir_fd and os.stat in os.supports_dir_fd)

MESSAGE_LIMIT = 1000
"""Characters of an error message kept (long paths included); the rest is counted."""

_warned: set[str] = set()

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def _euid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else -1


def kind_of(mode: int) -> str:
    """Name the file type of ``mode`` for a message ("a FIFO (named pipe)", "a regular file")."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def _fail(error: type[RasignError], message: str, hint: str | None = None) -> RasignError:
    """The error to raise; paths in ``message`` can come from link targets, so it is cleaned."""
    return error(clean(message, limit=MESSAGE_LIMIT), hint=hint)


@dataclass
class Location:
    """Where a path really ends: an open descriptor of its directory plus the final name.

    ``dir_fd`` is -1 on platforms without ``dir_fd`` support (Windows), where plain paths
    are used. Close it with :meth:`close` (or use the object as a context manager).
    """

    path: str
    """The path as the user gave it (absolute), for messages."""
    directory: str
    """The directory that really holds the file, after following trusted links."""
    name: str
    dir_fd: int
    dir_uid: int
    dir_gid: int
    existing: os.stat_result | None
    """``lstat`` of the final component, None when it does not exist yet."""
    missing_dirs: tuple[str, ...] = ()
    """Directories between ``directory`` and ``name`` that do not exist yet."""

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def __enter__(self) -> Location:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def full(self, name: str | None = None) -> str:
        return os.path.join(self.directory, *self.missing_dirs, name or self.name)


def _split(path: str) -> list[str]:
    return [part for part in path.replace(os.sep, "/").split("/") if part not in ("", ".")]


def _check_link(info: os.stat_result, where: str, what: str, error: type[RasignError]) -> None:
    euid = _euid()
    if euid < 0 or info.st_uid in (euid, 0):
        return
    raise _fail(
        error,
        f"refusing to follow the symlink {where} for the {what}: it belongs to uid {info.st_uid},"
        f" who could point it anywhere",
        "remove the link or give the real path",
    )


def locate(
    path: str,
    what: str,
    *,
    error: type[RasignError] = StoreError,
    allow_missing_dirs: bool = False,
    follow_final: bool = True,
) -> Location:
    """Resolve ``path`` safely and return its :class:`Location` (the caller closes it).

    Intermediate symlinks and a symlink as the final component are followed only when they
    belong to the current user or root. A missing directory is an error unless
    ``allow_missing_dirs`` (then :attr:`Location.missing_dirs` lists what must be created).
    With ``follow_final`` False a symlink as the last component is not followed: the
    location then names the link itself (``existing`` is its ``lstat``).
    """
    absolute = os.path.abspath(os.path.expanduser(path))
    if not _DIR_FD:
        return _locate_plain(absolute, what, error, allow_missing_dirs)  # follow_final: no O_NOFOLLOW there
    pending = _split(absolute)
    if not pending:
        raise _fail(error, f"the {what} {absolute} is a directory", "give a file name")
    walk = _Walk(absolute, what, error, allow_missing_dirs, follow_final, pending, _open_root())
    try:
        while walk.pending:
            found = walk.step()
            if found is not None:
                return found
    except BaseException:
        os.close(walk.fd)
        raise
    raise AssertionError("unreachable")  # pragma: no cover - the last component always returns or raises


def _open_root() -> int:
    return os.open("/", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)


@dataclass
class _Walk:
    """One resolution in progress: the directory descriptor reached so far and the components left.

    Every step is relative to :attr:`fd`; a descriptor is closed only after its replacement
    is open, so :attr:`fd` is always the one open descriptor :func:`locate` must close on error.
    """

    absolute: str
    what: str
    error: type[RasignError]
    allow_missing_dirs: bool
    follow_final: bool
    pending: list[str]
    fd: int
    current: str = "/"
    hops: int = 0

    def step(self) -> Location | None:
        """Resolve the next component; the :class:`Location` once the last one is reached."""
        part = self.pending.pop(0)
        last = not self.pending
        if part == "..":
            self._up(last)
            return None
        where = os.path.join(self.current, part)
        info = self._lstat(part)
        if info is None:
            return self._missing(part, where, last)
        if stat.S_ISLNK(info.st_mode) and (self.follow_final or not last):
            self._follow(part, where, info)
            return None
        if last:
            return _location(self.absolute, self.current, part, self.fd, info, ())
        self._descend(part, where, info)
        return None

    def _is_directory(self) -> RasignError:
        return _fail(self.error, f"the {self.what} {self.absolute} is a directory", "give a file name")

    def _up(self, last: bool) -> None:
        """``..`` goes to the parent of the directory really reached (after links), as the kernel does."""
        parent = os.open("..", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC, dir_fd=self.fd)
        os.close(self.fd)
        self.fd, self.current = parent, os.path.dirname(self.current) or "/"
        if last:
            raise self._is_directory()

    def _lstat(self, part: str) -> os.stat_result | None:
        """``lstat`` of ``part`` in the current directory, None when it does not exist."""
        try:
            return os.stat(part, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise _fail(self.error, f"cannot use the {self.what} {self.absolute}: {err.strerror or err}") from err

    def _missing(self, part: str, where: str, last: bool) -> Location:
        """A missing final name is a file to create; missing directories only with ``allow_missing_dirs``."""
        if last:
            return _location(self.absolute, self.current, part, self.fd, None, ())
        if self.allow_missing_dirs and ".." not in self.pending:
            missing = (part, *self.pending[:-1])
            return _location(self.absolute, self.current, self.pending[-1], self.fd, None, missing)
        raise _fail(
            self.error,
            f"the directory {where} for the {self.what} does not exist",
            "create it first or choose another path",
        )

    def _follow(self, part: str, where: str, info: os.stat_result) -> None:
        """Follow a trusted link: its target's components go in front of the ones left."""
        _check_link(info, where, self.what, self.error)
        self.hops += 1
        if self.hops > MAX_SYMLINK_HOPS:
            raise _fail(self.error, f"too many symlinks resolving the {self.what} {self.absolute}")
        target = os.readlink(part, dir_fd=self.fd)
        if target.startswith("/"):
            root = _open_root()
            os.close(self.fd)
            self.fd, self.current = root, "/"
        self.pending = _split(target) + self.pending
        if not self.pending:
            raise self._is_directory()

    def _descend(self, part: str, where: str, info: os.stat_result) -> None:
        """Enter a directory with ``O_NOFOLLOW``: a swap for a link after the ``lstat`` fails here."""
        if not stat.S_ISDIR(info.st_mode):
            raise _fail(
                self.error,
                f"cannot use the {self.what} {self.absolute}: {where} is {kind_of(info.st_mode)}, not a directory",
            )
        try:
            child = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=self.fd)
        except OSError as err:  # swapped for a link after the stat, or no search permission
            raise _fail(
                self.error, f"cannot open the directory {where} for the {self.what}: {err.strerror or err}"
            ) from err
        os.close(self.fd)
        self.fd, self.current = child, where


def _location(
    path: str, directory: str, name: str, fd: int, info: os.stat_result | None, missing: tuple[str, ...]
) -> Location:
    dir_info = os.fstat(fd) if fd >= 0 else os.stat(directory)
    return Location(path, directory, name, fd, dir_info.st_uid, dir_info.st_gid, info, missing)


def _locate_plain(path: str, what: str, error: type[RasignError], allow_missing_dirs: bool) -> Location:
    """Windows and other platforms without ``dir_fd``: plain paths, same checks where possible."""
    directory, name = os.path.split(path)
    missing: list[str] = []
    while not os.path.isdir(directory):
        if not allow_missing_dirs or os.path.lexists(directory):
            raise _fail(
                error,
                f"the directory {directory} for the {what} does not exist",
                "create it first or choose another path",
            )
        directory, tail = os.path.split(directory)
        missing.insert(0, tail)
    try:
        info: os.stat_result | None = os.lstat(os.path.join(directory, *missing, name))
    except OSError:
        info = None
    return _location(path, directory, name, -1, info, tuple(missing))


def _refuse_kind(location: Location, what: str, error: type[RasignError]) -> None:
    info = location.existing
    if info is not None and not stat.S_ISREG(info.st_mode) and not stat.S_ISLNK(info.st_mode):
        raise _fail(
            error,
            f"the {what} {location.path} is {kind_of(info.st_mode)}, not a regular file",
            "point it at a regular file (or a path that does not exist yet)",
        )


def _refuse_foreign_hardlink(location: Location, what: str, error: type[RasignError]) -> None:
    """As root in someone else's directory, refuse a file with several links that they do not own.

    The kernel's ``protected_hardlinks`` rule, emulated: the directory's owner could have
    linked a file of root's (``/root/.aws/credentials``) into it, and rasign would then read
    and rewrite root's file on their behalf.
    """
    info = location.existing
    if (
        info is None
        or _euid() != 0
        or location.dir_uid == 0
        or not stat.S_ISREG(info.st_mode)
        or info.st_nlink < 2
        or info.st_uid == location.dir_uid
    ):
        return
    raise _fail(
        error,
        f"refusing to use the {what} {location.path}: it is a hard link to a file of uid"
        f" {info.st_uid} in a directory of uid {location.dir_uid}",
        "remove it; rasign creates a new file",
    )


def _writable(location: Location) -> bool:
    probe = location.directory
    try:
        return os.access(probe, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids)
    except OSError:
        return False


def check_target(
    path: str, what: str, *, error: type[RasignError] = StoreError, create_dirs: bool = False, lock: bool = False
) -> str:
    """Preflight a file rasign is about to write; return its absolute path.

    Run before the first network call or PIN prompt so a bad path costs nothing: refuses a
    non-regular target, an untrusted symlink, a missing directory (unless ``create_dirs``:
    then the nearest existing one must be writable) and a directory rasign cannot write.
    A ``lock`` file must not be a symlink at all (it is opened with ``O_NOFOLLOW``).
    """
    with locate(path, what, error=error, allow_missing_dirs=create_dirs, follow_final=not lock) as location:
        _refuse_kind(location, what, error)
        _refuse_foreign_hardlink(location, what, error)
        if lock and location.existing is not None and stat.S_ISLNK(location.existing.st_mode):
            raise _fail(error, f"the {what} {location.path} is a symlink", "remove it; rasign recreates it")
        if not _writable(location):
            raise _fail(
                error,
                f"cannot write the {what} {location.path}: the directory {location.directory} is not writable",
                "fix its permissions or choose another path",
            )
        return location.path


def check_directory(path: str, what: str, *, error: type[RasignError] = StoreError) -> str:
    """Check that the directory ``path`` exists (following only trusted links) and is writable."""
    probe = os.path.join(os.path.abspath(os.path.expanduser(path)), ".rasign-probe")
    with locate(probe, what, error=error) as location:
        if not _writable(location):
            raise _fail(
                error,
                f"the {what} {location.directory} is not writable",
                "fix its permissions or choose another directory",
            )
        return location.directory


def resolve(path: str, what: str, *, error: type[RasignError] = StoreError) -> str:
    """The path ``path`` really names once trusted links are followed (untrusted ones refused)."""
    with locate(path, what, error=error, allow_missing_dirs=True) as location:
        _refuse_kind(location, what, error)
        return location.full()


# --------------------------------------------------------------------------- directories


def _make_dirs(location: Location, mode: int) -> None:
    """Create :attr:`Location.missing_dirs` (mode ``mode``), owned like their parent when root."""
    if not location.missing_dirs:
        return
    for part in location.missing_dirs:
        where = os.path.join(location.directory, part)
        try:
            if location.dir_fd >= 0:
                created = True
                try:
                    os.mkdir(part, mode, dir_fd=location.dir_fd)
                except FileExistsError:  # another writer made it meanwhile
                    created = False
                child = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=location.dir_fd)
                if created:
                    os.fchmod(child, mode)  # mkdir's mode is cut by the umask
                    _give_to_directory_owner(child, location)
                os.close(location.dir_fd)
                location.dir_fd = child
            else:
                os.makedirs(where, mode, exist_ok=True)
        except OSError as err:
            raise _fail(
                StoreError,
                f"cannot create the directory {where}: {err.strerror or err}",
                "create it yourself or choose another path",
            ) from err
        location.directory = where
        info = os.fstat(location.dir_fd) if location.dir_fd >= 0 else os.stat(where)
        location.dir_uid, location.dir_gid = info.st_uid, info.st_gid
    location.missing_dirs = ()


def ensure_directory(path: str, what: str, *, mode: int = 0o700, error: type[RasignError] = StoreError) -> str:
    """Create the directory ``path`` (and missing parents) with ``mode``; return its real path."""
    probe = os.path.join(os.path.abspath(os.path.expanduser(path)), ".rasign-probe")
    with locate(probe, what, error=error, allow_missing_dirs=True) as location:
        _make_dirs(location, mode)
        return location.directory


def _give_to_directory_owner(fd: int, location: Location) -> None:
    """As root in someone else's directory, hand a newly created file or directory to its owner."""
    if _euid() == 0 and location.dir_uid != 0 and hasattr(os, "fchown"):
        os.fchown(fd, location.dir_uid, location.dir_gid)


# --------------------------------------------------------------------------- reading


def _open_existing(location: Location, flags: int) -> int:
    flags |= _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK
    if location.dir_fd >= 0:
        return os.open(location.name, flags, dir_fd=location.dir_fd)
    return os.open(location.full(), flags)


def read_checked(
    path: str, what: str, *, error: type[RasignError] = StoreError, limit: int | None = None
) -> tuple[bytes, os.stat_result] | None:
    """The bytes of a regular file and the ``fstat`` of what was read, or None when it is missing.

    Never blocks on a FIFO (refused before it is opened); the ``stat`` is of the opened
    descriptor, so mode and owner checks apply to exactly the bytes returned.
    """
    with locate(path, what, error=error, allow_missing_dirs=True) as location:
        if location.missing_dirs or location.existing is None:
            return None
        _refuse_kind(location, what, error)
        if stat.S_ISLNK(location.existing.st_mode):  # swapped in after locate(); O_NOFOLLOW refuses it
            raise _fail(error, f"the {what} {location.path} changed while it was being read", "try again")
        _refuse_foreign_hardlink(location, what, error)
        try:
            fd = _open_existing(location, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise _fail(
                error, f"cannot read the {what} {location.path}: {err.strerror or err}", "check its permissions"
            ) from err
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _fail(error, f"the {what} {location.path} is {kind_of(info.st_mode)}, not a regular file")
            return (handle.read() if limit is None else handle.read(limit)), info


def read_bytes(
    path: str, what: str, *, error: type[RasignError] = StoreError, limit: int | None = None
) -> bytes | None:
    """The bytes of a regular file, or None when it does not exist. Never blocks on a FIFO."""
    found = read_checked(path, what, error=error, limit=limit)
    return None if found is None else found[0]


# --------------------------------------------------------------------------- writing


def _warn_exposed(path: str, mode: int, what: str) -> None:
    if mode & 0o044 and path not in _warned:
        _warned.add(path)
        shown = clean(path, limit=MESSAGE_LIMIT)
        log.warning(
            "the %s %s is readable by %s (mode %04o); it holds secrets: run chmod 600 %s",
            what,
            shown,
            "group and others" if mode & 0o044 == 0o044 else ("others" if mode & 0o004 else "group"),
            stat.S_IMODE(mode),
            shown,
        )


def write_atomic(
    path: str,
    data: bytes | str,
    what: str,
    *,
    mode: int = 0o600,
    keep_mode: bool = True,
    secret: bool = True,
    create_dirs: bool = False,
    dir_mode: int = 0o700,
    follow_final: bool = True,
    error: type[RasignError] = StoreError,
) -> str:
    """Replace ``path`` with ``data`` (temp file + fsync + rename + directory fsync).

    An existing file keeps its mode (unless ``keep_mode`` is False), owner and group; a new
    one gets ``mode`` and, when root writes into a user's directory, that user as owner.
    ``secret`` files that group or others can read cause a one-time warning. Returns the
    real path written.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with locate(path, what, error=error, allow_missing_dirs=create_dirs, follow_final=follow_final) as location:
        _refuse_kind(location, what, error)
        _refuse_foreign_hardlink(location, what, error)
        _make_dirs(location, dir_mode)
        existing = location.existing
        if existing is not None and stat.S_ISLNK(existing.st_mode):
            existing = None  # a link we must not follow: the rename replaces the link itself
        final_mode = stat.S_IMODE(existing.st_mode) if existing is not None and keep_mode else mode
        _write_into(location, payload, final_mode, existing)
        if secret:
            _warn_exposed(location.full(), final_mode, what)
        return location.full()


def _write_into(location: Location, payload: bytes, mode: int, existing: os.stat_result | None) -> None:
    tmp_name = f".{location.name}.{_random.token_hex(6)}.tmp"
    fd = -1
    created = False
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
        if location.dir_fd >= 0:
            fd = os.open(tmp_name, flags, 0o600, dir_fd=location.dir_fd)
        else:
            fd = os.open(location.full(tmp_name), flags | getattr(os, "O_BINARY", 0), 0o600)
        created = True
        if existing is not None and hasattr(os, "fchown") and _euid() in (0, existing.st_uid):
            with contextlib.suppress(OSError):
                os.fchown(fd, existing.st_uid, existing.st_gid)
        elif existing is None:
            _give_to_directory_owner(fd, location)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if location.dir_fd >= 0:
            os.replace(tmp_name, location.name, src_dir_fd=location.dir_fd, dst_dir_fd=location.dir_fd)
            created = False
            _fsync_fd(location.dir_fd)
        else:
            if not hasattr(os, "fchmod"):
                os.chmod(location.full(tmp_name), mode)
            os.replace(location.full(tmp_name), location.full())
            created = False
    except OSError as err:
        raise _fail(
            StoreError,
            f"cannot write {location.path}: {err.strerror or err}",
            "check that the directory is writable and the disk is not full",
        ) from err
    finally:
        if fd >= 0:
            os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                if location.dir_fd >= 0:
                    os.unlink(tmp_name, dir_fd=location.dir_fd)
                else:
                    os.unlink(location.full(tmp_name))


def _fsync_fd(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF, errno.EROFS):
            raise


def create_exclusive(
    path: str, data: bytes | str, what: str, *, mode: int = 0o600, error: type[RasignError] = StoreError
) -> bool:
    """Create ``path`` with ``data`` only if it does not exist; False when it already does.

    For files whose first writer wins (serve's auth token): ``O_EXCL|O_NOFOLLOW`` relative
    to the safely opened directory, owner handed to the directory's owner when root.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with locate(path, what, error=error) as location:
        _refuse_kind(location, what, error)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
        try:
            if location.dir_fd >= 0:
                fd = os.open(location.name, flags, mode, dir_fd=location.dir_fd)
            else:
                fd = os.open(location.full(), flags, mode)
        except FileExistsError:
            return False
        except OSError as err:
            raise _fail(error, f"cannot create the {what} {location.path}: {err.strerror or err}") from err
        try:
            _give_to_directory_owner(fd, location)
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            os.write(fd, payload)
            os.fsync(fd)
        except OSError as err:
            raise _fail(error, f"cannot write the {what} {location.path}: {err.strerror or err}") from err
        finally:
            os.close(fd)
        return True


# --------------------------------------------------------------------------- locks


def open_lock(
    path: str, what: str = "lock file", *, error: type[RasignError] = StoreError, create_dirs: bool = False
) -> int:
    """Open (creating 0600) the lock file ``path`` without following an untrusted link.

    The final component is opened with ``O_NOFOLLOW`` (a symlink there is refused, even
    one of ours: a lock is never meant to be a link) and must be a regular file. Returns a
    descriptor; closing it releases any ``flock`` held on it.
    """
    with locate(path, what, error=error, allow_missing_dirs=create_dirs, follow_final=False) as location:
        _refuse_kind(location, what, error)
        if location.existing is not None and stat.S_ISLNK(location.existing.st_mode):
            raise _fail(error, f"the {what} {location.path} is a symlink", "remove it; rasign recreates it")
        _make_dirs(location, 0o700)
        flags = os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK
        try:
            if location.dir_fd >= 0:
                fd = os.open(location.name, flags, 0o600, dir_fd=location.dir_fd)
            else:
                fd = os.open(location.full(), flags, 0o600)
        except OSError as err:
            raise _fail(
                error,
                f"cannot open the {what} {location.path}: {err.strerror or err}",
                "check that its directory is writable",
            ) from err
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _fail(error, f"the {what} {location.path} is {kind_of(info.st_mode)}, not a regular file")
            if location.existing is None and info.st_uid == _euid():
                _give_to_directory_owner(fd, location)
        except BaseException:
            os.close(fd)
            raise
        return fd


@contextlib.contextmanager
def locked(path: str, what: str = "lock file", *, error: type[RasignError] = StoreError) -> Iterator[None]:
    """Hold an exclusive advisory lock on the lock file ``path`` (see :func:`open_lock`)."""
    fd = open_lock(path, what, error=error)
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
