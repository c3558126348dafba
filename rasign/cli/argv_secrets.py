"""Warn when a secret is on the command line, where every local user can read it.

Why: the command line of a process is world-readable (``ps``, ``/proc/PID/cmdline``), and
``credential_process`` lines in ``~/.aws/config`` are often copied with a password or a
``pin-value=`` in them. rasign still accepts them (the Go helper does, and scripts rely on
it) but says once, on stderr, which safer source to use. The secret itself is never echoed:
messages name the flag only.
"""

from __future__ import annotations

import argparse
import os
import re

SILENCE_ENV = "RASIGN_NO_SECRET_WARNING"
"""Set to 1 to drop the warning (test rigs with throw-away secrets); the secret stays in ps."""

SECRET_FLAGS: dict[str, tuple[str, str]] = {
    "pkcs8_password": ("--pkcs8-password", "set RASIGN_PKCS8_PASSWORD or RASIGN_PKCS8_PASSWORD_FILE instead"),
    "tpm_key_password": ("--tpm-key-password", "set RASIGN_TPM_KEY_PASSWORD instead"),
    "tpm_parent_password": ("--tpm-parent-password", "set RASIGN_TPM_PARENT_PASSWORD instead"),
}
"""Destination -> (flag, the alternative that keeps the secret off the command line)."""

URI_FLAGS = ("certificate", "private_key")
PIN_HINT = "use pin-source=file:/path in the URI, --pkcs11-pin-file PATH or --pkcs11-pin-env NAME instead"
_PIN_VALUE = re.compile(r"[?&;]pin-value=", re.IGNORECASE)


def secrets_on_command_line(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(where the secret is, what to use instead) for each secret given on the command line."""
    found: list[tuple[str, str]] = []
    for dest, (flag, instead) in SECRET_FLAGS.items():
        if getattr(args, dest, None):
            found.append((flag, instead))
    if getattr(args, "pkcs11_pin_alias", False):
        found.append(("--pkcs11-pin", PIN_HINT))
    for dest in URI_FLAGS:
        value = getattr(args, dest, None)
        if isinstance(value, str) and value.lower().startswith("pkcs11:") and _PIN_VALUE.search(value):
            found.append((f"pin-value= in --{dest.replace('_', '-')}", PIN_HINT))
    return found


def warning_line(args: argparse.Namespace) -> str | None:
    """One warning naming every secret on the command line, or None when there is none."""
    found = secrets_on_command_line(args)
    if not found:
        return None
    places = ", ".join(flag for flag, _ in found)
    advice = "; ".join(f"for {flag}: {instead}" for flag, instead in found) if len(found) > 1 else found[0][1]
    return f"{places} on the command line can be read by other local users (ps, /proc); {advice}"


def silenced() -> bool:
    """True when the user turned the warning off with ``RASIGN_NO_SECRET_WARNING=1``."""
    return os.environ.get(SILENCE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
