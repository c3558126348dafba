"""Choose and load the PKCS#11 module (the vendor's ``.so``), remembering what was tried.

Order: ``--pkcs11-lib``; else ``module-path`` (and ``module-name``) from the URI; else
``module-name`` resolved through p11-kit's registered modules and the linker path; else
p11-kit-proxy, which fans out to every module p11-kit knows (the Go helper's default).
An explicit choice never falls back to another module: a user who names a module wants
that one, and a silent substitute could find a different token.

When nothing loads, the error lists every path tried with the loader's reason and the
modules that exist on this machine, because "Failed to load provider library" alone
(the Go helper, aws/rolesanywhere-credential-helper#58) leaves users guessing.

A module is loaded and ``C_Initialize``\\ d once per process and kept: PKCS#11 forbids a
second ``C_Initialize`` of the same module, and long-running commands reuse it.
"""

from __future__ import annotations

import glob
import os
import sys
import threading
from typing import Any

from rasign.backends.pkcs11 import quiet
from rasign.errors import BackendUnavailable

P11_KIT_PROXY_NAMES = ("p11-kit-proxy.so",) if sys.platform != "darwin" else ("p11-kit-proxy.dylib",)
P11_KIT_PROXY_PATHS = (
    "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib64/p11-kit-proxy.so",
    "/usr/lib/p11-kit-proxy.so",
    "/usr/local/lib/p11-kit-proxy.so",
    "/opt/homebrew/lib/p11-kit-proxy.dylib",
    "/usr/local/lib/p11-kit-proxy.dylib",
)
P11_KIT_MODULE_CONFIG_DIRS = ("/etc/pkcs11/modules", "/usr/share/p11-kit/modules", "/usr/local/share/p11-kit/modules")
KNOWN_MODULE_GLOBS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/*/softhsm/libsofthsm2.so",
    "/usr/lib/*/opensc-pkcs11.so",
    "/usr/lib/*/libykcs11.so*",
    "/usr/lib64/opensc-pkcs11.so",
    "/usr/lib64/libykcs11.so*",
    "/usr/local/lib/libykcs11.*",
    "/opt/homebrew/lib/*pkcs11*.dylib",
    "/opt/homebrew/lib/libykcs11.dylib",
    "/Library/OpenSC/lib/opensc-pkcs11.so",
)

_LOADED: dict[str, Any] = {}
_LOCK = threading.Lock()


class LoadedModule:
    """A loaded python-pkcs11 ``lib`` plus the name it was loaded by (for messages)."""

    def __init__(self, lib: Any, path: str, *, reused: bool = False) -> None:
        self.lib = lib
        self.path = path
        self.reused = reused
        """True when this process loaded the module earlier (a long-lived agent or server):
        a token inserted since may be invisible until the module is initialised again."""

    def describe(self) -> str:
        from rasign.backends.pkcs11.search import field_text

        return f"{self.path} ({field_text(self.lib.library_description) or 'no description'})"


def candidates(
    explicit: str | None, uri_module_path: str | None, uri_module_name: str | None
) -> tuple[list[str], bool]:
    """Module paths to try in order, and whether the choice was explicit (no fallback)."""
    if explicit:
        return [explicit], True
    if uri_module_path:
        if os.path.isdir(uri_module_path):
            if not uri_module_name:
                return [uri_module_path], True
            base = os.path.join(uri_module_path, uri_module_name)
            return [f"{base}.so", os.path.join(uri_module_path, f"lib{uri_module_name}.so"), base], True
        return [uri_module_path], True
    if uri_module_name:
        return _by_module_name(uri_module_name), True
    return [*P11_KIT_PROXY_NAMES, *P11_KIT_PROXY_PATHS], False


def _by_module_name(name: str) -> list[str]:
    """``module-name`` as p11-kit registers it (``softhsm2``), then as a library name."""
    found: list[str] = []
    for directory in P11_KIT_MODULE_CONFIG_DIRS:
        config = os.path.join(directory, f"{name}.module")
        module = _module_line(config)
        if module:
            found.append(module if os.path.isabs(module) else _p11kit_relative(module))
    found += [f"lib{name}.so", f"{name}.so"] if not name.endswith(".so") else [name]
    return found


def _module_line(config: str, name: str = "module") -> str | None:
    """The value of ``name:`` in a p11-kit module file (``module``, ``x-init-reserved``...)."""
    try:
        with open(config, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        return None
    return None


def _module_file_value(module_name: str, name: str) -> str | None:
    """``name:`` from the first p11-kit module file registered as ``module_name``."""
    for directory in P11_KIT_MODULE_CONFIG_DIRS:
        config = os.path.join(directory, f"{module_name}.module")
        if os.path.exists(config):
            return _module_line(config, name)
    return None


def _p11kit_relative(module: str) -> str:
    # p11-kit resolves relative module names against its own module directory.
    for directory in glob.glob("/usr/lib/*/pkcs11") + ["/usr/lib64/pkcs11", "/usr/lib/pkcs11"]:
        path = os.path.join(directory, module)
        if os.path.exists(path):
            return path
    return module


def modules_on_this_machine() -> list[str]:
    """PKCS#11 modules found at well-known places (for the "how to fix" hint)."""
    seen: list[str] = []
    for pattern in KNOWN_MODULE_GLOBS:
        for path in sorted(glob.glob(pattern)):
            if path not in seen:
                seen.append(path)
    return seen


def load(
    explicit: str | None = None,
    uri_module_path: str | None = None,
    uri_module_name: str | None = None,
    init_args: str | None = None,
) -> LoadedModule:
    """Load the first loadable candidate, or raise :class:`BackendUnavailable` listing them all.

    ``init_args`` goes to ``C_Initialize`` as ``pReserved`` (NSS softokn's ``configdir=...``);
    without it, a p11-kit module file found for ``module-name`` lends its ``x-init-reserved:``.
    """
    pkcs11 = _require_pkcs11()
    quiet.quiet_tss2_logging()
    paths, is_explicit = candidates(explicit, uri_module_path, uri_module_name)
    if init_args is None and uri_module_name and not explicit and not uri_module_path:
        init_args = _module_file_value(uri_module_name, "x-init-reserved")
    tried: list[str] = []
    needs_args = False
    with _LOCK:
        for path in paths:
            key = os.path.realpath(path) if os.path.isabs(path) else path
            if key in _LOADED:
                return LoadedModule(_LOADED[key], path, reused=True)
            if os.path.isabs(path) and not os.path.exists(path):
                tried.append(f"{path}: no such file")
                continue
            try:
                with quiet.module_stderr_captured(f"C_Initialize of {path}"):
                    if init_args is not None:
                        from rasign.backends.pkcs11.native import load_with_init_args

                        lib = load_with_init_args(path, init_args)
                    else:
                        lib = pkcs11.lib(path)
            except Exception as err:  # noqa: BLE001 - any loader failure is one line in the list of tried paths
                needs_args = needs_args or (init_args is None and type(err).__name__ == "ArgumentsBad")
                tried.append(f"{path}: {_reason(err)}")
                continue
            _LOADED[key] = lib
            return LoadedModule(lib, path)
    raise _none_loaded(tried, is_explicit, needs_args)


def _reason(err: Exception) -> str:
    if type(err).__module__.startswith("pkcs11"):
        from rasign.backends.pkcs11.ckr import ckr_name

        name = ckr_name(err)
        if "OS exception while loading" not in name:
            return f"C_Initialize answered {name}" if name.startswith("CKR_") else name
    text = " ".join(str(err).split()) or type(err).__name__
    return text.replace("OS exception while loading ", "")


def _none_loaded(tried: list[str], is_explicit: bool, needs_args: bool = False) -> BackendUnavailable:
    found = modules_on_this_machine()
    if needs_args:
        hint = (
            "the module wants initialisation arguments in C_Initialize: pass them with --pkcs11-init-args"
            " (NSS softokn: \"configdir='sql:/path/to/db' certPrefix='' keyPrefix='' secmod='secmod.db' flags=\"),"
            " x-init-reserved= in the URI's query, or load it through a p11-kit module file with x-init-reserved:"
        )
        return BackendUnavailable("could not initialise the PKCS#11 module; tried: " + "; ".join(tried), hint=hint)
    hint = "pass the token vendor's module with --pkcs11-lib /path/to/module.so"
    if found:
        hint += "; modules found on this machine: " + ", ".join(found)
    elif not is_explicit:
        hint += "; or install p11-kit (apt-get install p11-kit) and register your module with it"
    what = "the PKCS#11 module" if is_explicit else "any PKCS#11 module (none given, so p11-kit-proxy was tried)"
    return BackendUnavailable(f"could not load {what}; tried: " + "; ".join(tried), hint=hint)


def _require_pkcs11() -> Any:
    from rasign.backend import require_module

    return require_module("pkcs11", "pkcs11", extra="pkcs11")


def forget(module: LoadedModule) -> None:
    """Drop a module from the cache after finalising it (tests that simulate a reset)."""
    with _LOCK:
        for key, lib in list(_LOADED.items()):
            if lib is module.lib:
                del _LOADED[key]
