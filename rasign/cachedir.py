"""Where the credential cache and the compiled identities files live.

One rule, used by :mod:`rasign.cache` (credentials) and :mod:`rasign.identities` (its parsed
copies of the identities file), so both always agree on the directory: ``$RASIGN_CACHE_DIR``,
else ``$XDG_RUNTIME_DIR/rasign`` (a per-login tmpfs: nothing survives a reboot), else
``~/.cache/rasign``. Standard library only and nothing at import: both callers are on the
cold ``credential-process`` path.
"""

from __future__ import annotations

import os

DIR_ENV = "RASIGN_CACHE_DIR"
"""The variable that overrides the directory (tests and multi-user set-ups use it)."""


def cache_dir() -> str:
    """The directory's absolute path (not created or checked here: the writer does that)."""
    explicit = os.environ.get(DIR_ENV)
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "rasign")
    return os.path.join(os.path.expanduser("~"), ".cache", "rasign")
