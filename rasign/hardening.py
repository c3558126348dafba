"""Process hardening for commands that live long and hold secrets (serve, update, daemons).

ssh-agent's model: a process that holds a logged-in token session, PINs or credentials for
hours must not be readable by the same user's other processes through ptrace or
``/proc/PID/mem``, must not leave a core file with its memory in it, and must not keep PINs
in its environment, where ``/proc/PID/environ`` and every child would see them.

Standard library only; every step is best effort on platforms that lack it, and
:func:`harden_process` reports what it could not do instead of failing the command.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3

SECRET_ENVIRONMENT = (
    "RASIGN_PKCS11_PIN",
    "RASIGN_PKCS11_CONTEXT_PIN",
    "RASIGN_PKCS8_PASSWORD",
    "RASIGN_TPM_KEY_PASSWORD",
    "RASIGN_TPM_PARENT_PASSWORD",
)
"""Variables that carry a PIN or password; removed from the environment once read."""


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def set_non_dumpable() -> bool:
    """Forbid ptrace attach and core dumps by the same user (Linux ``PR_SET_DUMPABLE`` 0)."""
    libc = _libc()
    if libc is None:
        return False
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        return False
    return bool(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)


def disable_core_files() -> bool:
    """Set the core file size limit to zero, soft and hard."""
    try:
        import resource
    except ImportError:  # Windows
        return False
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError):
        return False
    return True


def scrub_secret_environment(names: tuple[str, ...] = SECRET_ENVIRONMENT) -> list[str]:
    """Remove secret-bearing variables from the environment; return the names removed.

    The values move into :mod:`rasign.secrets`' memory (a token reset may need the PIN again
    hours later), out of ``os.environ`` and the C environment, and their bytes in the
    process's original environment block are overwritten, so ``/proc/PID/environ`` no
    longer shows them either.
    """
    from rasign.secrets import hold_environment

    removed = hold_environment(names)
    if removed:
        _wipe_environment_block(removed)
    return removed


SECRET_FLAGS = ("--pkcs8-password", "--tpm-key-password", "--tpm-parent-password", "--pkcs11-pin")
"""Flags whose value is a secret; :func:`mask_command_line` hides their value from ``ps``."""


def _stat_regions() -> tuple[int, int, int, int] | None:
    """(arg_start, arg_end, env_start, env_end) of this process, from /proc/self/stat."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            data = handle.read()
        fields = data[data.rindex(b")") + 2 :].split()
        # fields[0] is field 3 (state) of proc(5); arg_start..env_end are fields 48..51.
        return tuple(int(fields[n - 3]) for n in (48, 49, 50, 51))  # type: ignore[return-value]
    except (OSError, ValueError, IndexError):
        return None


def _region_entries(start: int, end: int) -> list[tuple[int, bytes]]:
    """The NUL-terminated strings of a region of our own memory, with their addresses."""
    if not start or end <= start or end - start > 1 << 20:
        return []
    raw = ctypes.string_at(start, end - start)
    entries, offset = [], 0
    for part in raw.split(b"\0"):
        entries.append((start + offset, part))
        offset += len(part) + 1
    return entries


def _overwrite(address: int, length: int, fill: bytes) -> None:
    if length > 0:
        ctypes.memmove(address, fill * length, length)


def _wipe_environment_block(names: list[str]) -> None:
    regions = _stat_regions() if sys.platform.startswith("linux") else None
    if regions is None:
        return
    prefixes = tuple(name.encode() + b"=" for name in names)
    for address, entry in _region_entries(regions[2], regions[3]):
        if entry.startswith(prefixes):
            name_length = entry.index(b"=") + 1
            _overwrite(address + name_length, len(entry) - name_length, b"\0")


def mask_command_line(flags: tuple[str, ...] = SECRET_FLAGS) -> int:
    """Overwrite secret flag values and URI ``pin-value=`` in ``/proc/PID/cmdline``; return how many.

    Python keeps its own copy of argv, so the command still works; ``ps`` and other users'
    ``/proc`` readers see ``*`` in place of the secret from now on. (They may have seen it
    before this point: the CLI also warns when a secret is passed on the command line.)
    """
    regions = _stat_regions() if sys.platform.startswith("linux") else None
    if regions is None:
        return 0
    masked = 0
    entries = _region_entries(regions[0], regions[1])
    mask_next = False
    for address, entry in entries:
        if mask_next:
            _overwrite(address, len(entry), b"*")
            masked += 1
            mask_next = False
            continue
        text = entry.decode("utf-8", "replace")
        name, sep, _value = text.partition("=")
        if name in flags:
            if sep:
                skip = len(name.encode()) + 1
                _overwrite(address + skip, len(entry) - skip, b"*")
                masked += 1
            else:
                mask_next = True
            continue
        marker = entry.find(b"pin-value=")
        while marker != -1:
            start = marker + len(b"pin-value=")
            stop = start
            while stop < len(entry) and entry[stop : stop + 1] not in (b";", b"&"):
                stop += 1
            _overwrite(address + start, stop - start, b"*")
            masked += 1
            marker = entry.find(b"pin-value=", stop)
    return masked


def harden_process() -> list[str]:
    """Apply every hardening step; return the names of the steps that could not be applied."""
    missing = []
    if not set_non_dumpable() and sys.platform.startswith("linux"):
        missing.append("non-dumpable")
    if not disable_core_files() and os.name == "posix":
        missing.append("core-size-0")
    scrub_secret_environment()
    mask_command_line()
    if missing:
        log.debug("process hardening not applied: %s", ", ".join(missing))
    return missing
