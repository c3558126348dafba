"""Every package's docstring keeps a module map: each module and subpackage is named in it.

Issue 11: the package docstrings are where a reader finds which module does what (and which
ones must stay standard library only). A map that silently misses a new module is worse
than none, so this walks ``rasign/`` and ``backends/`` and fails, naming the package and the
module, when a module file or subpackage directory is not named in its package's docstring.
The sources are read with :mod:`ast`, never imported: importing would run package code and
hide a missing module behind an import error.

Only present-but-unlisted names fail: a map may list a module that is about to land.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("rasign", "backends")


def _packages() -> list[Path]:
    """Every package directory (one with an ``__init__.py``) under the roots, parents first."""
    found: list[Path] = []
    for root in ROOTS:
        found.extend(sorted(init.parent for init in (REPO / root).rglob("__init__.py")))
    return found


def _members(package: Path) -> list[str]:
    """The names a map must mention: module files (``__main__`` too) and subpackage directories."""
    names = []
    for child in sorted(package.iterdir()):
        if child.is_file() and child.suffix == ".py" and child.name != "__init__.py":
            names.append(child.stem)
        elif child.is_dir() and (child / "__init__.py").is_file():
            names.append(child.name)
    return names


def _docstring(package: Path) -> str:
    init = package / "__init__.py"
    return ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"), str(init))) or ""


def _unlisted(package: Path) -> list[str]:
    doc = _docstring(package)
    return [name for name in _members(package) if not re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", doc)]


def test_the_walk_finds_the_packages() -> None:
    """Guards the walk itself: a wrong root would make every map test vacuous."""
    found = {p.relative_to(REPO).as_posix() for p in _packages()}
    assert {"rasign", "rasign/cli", "rasign/commands", "backends", "backends/pkcs11", "backends/tpm"} <= found
    assert "__main__" in _members(REPO / "rasign")
    assert "cli" in _members(REPO / "rasign")


@pytest.mark.parametrize("package", _packages(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_package_docstring_names_every_module(package: Path) -> None:
    missing = _unlisted(package)
    where = (package / "__init__.py").relative_to(REPO)
    assert missing == [], (
        f"package {package.relative_to(REPO).as_posix()}: module map in {where} docstring does not name "
        + ", ".join(missing)
        + " (add one line per module: what it is for and, where it matters, what it must not import)"
    )


def test_a_missing_module_is_reported_by_name(tmp_path: Path) -> None:
    """The check itself: an unlisted module and subpackage are named; a listed-but-absent one is fine."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text('"""Map:\n\n- ``listed``: here;\n- ``planned``: not yet."""\n')
    (package / "sub" / "__init__.py").write_text("")
    (package / "listed.py").write_text("")
    (package / "listed_too.py").write_text("")
    (package / "notes.txt").write_text("listed_too")
    assert _unlisted(package) == ["listed_too", "sub"]
