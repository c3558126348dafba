"""The layering rules, checked on the source: core and backends meet only at the contract.

- The core (``rasign/``) never imports a backend (``rasign.backends.*``): backends are
  chosen and loaded by name through :mod:`rasign.registry`.
- A backend imports from the core only the modules listed in
  :data:`rasign.backend.BACKEND_INTERFACE` (the contract and the helpers it offers), never
  the registry, the CLI, the session client or delivery code.
- A backend never imports another backend's modules: it asks for it by name through
  :func:`rasign.backend.backend_named`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rasign.backend import BACKEND_INTERFACE

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module named by an import statement in ``path`` (top level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    module = _module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            if node.module in ("rasign", "rasign.backends") or (node.level and not node.module):
                found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def _module_of(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = list(relative.parts)
    if parts[0] == "backends":
        parts = ["rasign", "backends", *parts[1:]]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def _backend_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["rasign", "backends"] or len(parts) < 3:
        return None
    return parts[2]


def _group(module: str) -> str:
    """Backends that are one package share it; the file backend spans its sibling modules."""
    backend = _backend_of(module) or ""
    return "file" if backend in ("file", "file_keys", "file_sources", "pkcs8", "mldsa_keys") else backend


@pytest.mark.parametrize("path", _sources("rasign"), ids=lambda p: str(p.relative_to(REPO)))
def test_core_never_imports_a_backend(path):
    offenders = [(line, name) for line, name in _imports(path) if name.startswith("rasign.backends")]
    assert offenders == [], f"{path.name} imports a backend; load it through rasign.registry instead"


@pytest.mark.parametrize("path", _sources("backends"), ids=lambda p: str(p.relative_to(REPO)))
def test_backends_use_only_the_contract(path):
    me = _module_of(path)
    bad = []
    for line, name in _imports(path):
        if not name.startswith("rasign") or name == "rasign":
            continue
        if name.startswith("rasign.backends"):
            if name != "rasign.backends" and _group(name) != _group(me):
                bad.append((line, name, "another backend: use rasign.backend.backend_named()"))
            continue
        if not any(name == allowed or name.startswith(allowed + ".") for allowed in BACKEND_INTERFACE):
            bad.append((line, name, "not part of rasign.backend.BACKEND_INTERFACE"))
    assert bad == [], f"{path.name}: {bad}"


def test_the_rules_see_imports_inside_functions():
    """Guard the guard: a lazy import in a function body is found too."""
    sample = REPO / "backends" / "store" / "pkcs11_store.py"
    names = [name for _, name in _imports(sample)]
    assert "rasign.backend" in names  # imported inside methods only


def test_a_plugin_that_does_not_implement_open_is_named(monkeypatch):
    from rasign import registry
    from rasign.backend import Backend
    from rasign.errors import UsageError

    class Half(Backend):
        name = "half"

    with pytest.raises(UsageError, match="does not implement open"):
        registry._checked("half", Half)
