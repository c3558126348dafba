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
    return libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0


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
    """Remove secret-bearing variables from ``os.environ`` (and the C environment).

    Call it after the options have been read: the values live on only in the objects that
    need them. Returns the names that were removed.
    """
    removed = []
    for name in names:
        if name in os.environ:
            os.environ.pop(name, None)  # os.environ.pop also calls unsetenv()
            removed.append(name)
    return removed


def harden_process() -> list[str]:
    """Apply every hardening step; return the names of the steps that could not be applied."""
    missing = []
    if not set_non_dumpable() and sys.platform.startswith("linux"):
        missing.append("non-dumpable")
    if not disable_core_files() and os.name == "posix":
        missing.append("core-size-0")
    scrub_secret_environment()
    if missing:
        log.debug("process hardening not applied: %s", ", ".join(missing))
    return missing
