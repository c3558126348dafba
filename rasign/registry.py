"""Pick the key backend for a set of inputs, loading only the one that is used.

Precedence is fixed and mirrors the Go helper's ``GetSigner`` so the same flags always
mean the same thing:

1. ``--cert-selector`` (or ``--cert-store``) -> certificate stores ("store")
2. a ``pkcs11:`` URI in ``--private-key`` -> PKCS#11 ("pkcs11")
3. ``handle:0x...`` in ``--private-key``, or a ``TSS2 PRIVATE KEY`` PEM -> TPM ("tpm"),
   whatever the certificate source (it may be a token)
4. a ``pkcs11:`` URI in ``--certificate`` (key found on the same token) -> PKCS#11
5. a ``scheme:`` spec claimed by a third-party backend (entry point group
   ``rasign.backends``) -> that backend
6. anything else -> files ("file")

A backend implements the contract written in :mod:`rasign.backend`. Built-in backends are
addressed by module path here so that choosing one never scans installed distributions;
third-party ones are found through entry points, so adding a backend needs no change to
this file. Rules 1 and 3 ask the store and TPM backends' own ``claims``, so what makes a
file a TPM key is decided in one place (the TPM backend).
"""

from __future__ import annotations

import importlib
import os
import re
from typing import TYPE_CHECKING

from rasign.backend import Backend
from rasign.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from rasign.options import SignerOptions
    from rasign.signer import Signer

ENTRY_POINT_GROUP = "rasign.backends"

BUILTIN_BACKENDS: dict[str, str] = {
    "file": "rasign.backends.file:FileBackend",
    "pkcs11": "rasign.backends.pkcs11:Pkcs11Backend",
    "tpm": "rasign.backends.tpm:TpmBackend",
    "store": "rasign.backends.store:StoreBackend",
}
"""Built-in backends; kept in step with ``[project.entry-points."rasign.backends"]``."""

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


def choose_backend(options: SignerOptions) -> str:
    """Return the backend name for these inputs (see the module docstring)."""
    key = options.private_key or ""
    cert = options.certificate or ""
    if load_backend("store").claims(options):
        return "store"
    # The key decides before the certificate: a TPM key may carry its certificate on a token.
    if key.startswith("pkcs11:"):
        return "pkcs11"
    if load_backend("tpm").claims(options):
        return "tpm"
    if cert.startswith("pkcs11:"):
        return "pkcs11"
    spec = key or cert
    scheme = _SCHEME.match(spec)
    if scheme and scheme.group(1).lower() not in ("file",) and not os.path.exists(spec):
        for name, loader in _plugin_entry_points().items():
            if _checked(name, loader()).claims(options):
                return name
    if not key and not cert:
        raise UsageError(
            "no certificate or key given",
            hint="pass --certificate and --private-key, a pkcs11: URI, or --cert-selector",
        )
    return "file"


def load_backend(name: str) -> type[Backend]:
    """Import and return the backend class registered under ``name``."""
    target = BUILTIN_BACKENDS.get(name)
    if target is None:
        plugins = _plugin_entry_points()
        if name not in plugins:
            known = ", ".join(sorted({*BUILTIN_BACKENDS, *plugins}))
            raise UsageError(f"unknown key backend {name!r}", hint=f"known backends: {known}")
        return _checked(name, plugins[name]())
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return _checked(name, getattr(module, attr))


def open_signer(options: SignerOptions) -> Signer:
    """Build the signer for ``options`` with the chosen backend, or ``options.backend`` when forced."""
    from rasign.validate import option_types, signer_text

    option_types(options)  # the Python API hands options in directly: check before any backend
    signer_text(options)
    name = options.backend or choose_backend(options)
    return load_backend(name).open(options)


def _checked(name: str, backend: object) -> type[Backend]:
    """``backend`` if it implements the contract; a plug-in that does not is named."""
    if isinstance(backend, type) and issubclass(backend, Backend):
        missing = sorted(getattr(backend, "__abstractmethods__", ()))
        if not missing:
            return backend
        raise UsageError(
            f"key backend {name!r} does not implement {', '.join(missing)}",
            hint="update the plug-in that registers it under the rasign.backends entry-point group",
        )
    raise UsageError(
        f"key backend {name!r} does not implement rasign.backend.Backend",
        hint="update the plug-in that registers it under the rasign.backends entry-point group",
    )


def _plugin_entry_points() -> dict[str, Callable[[], object]]:
    from importlib.metadata import entry_points

    found: dict[str, Callable[[], object]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in BUILTIN_BACKENDS:
            continue
        found[entry.name] = entry.load
    return found
