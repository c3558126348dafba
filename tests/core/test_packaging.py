"""The installed wheel must contain every package in the source tree (backends/ maps to rasign.backends)."""

from __future__ import annotations

from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[2]


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for init in REPO.glob("rasign/**/__init__.py"):
        found.add(".".join(init.parent.relative_to(REPO).parts))
    for init in REPO.glob("backends/**/__init__.py"):
        found.add(".".join(("rasign", *init.parent.relative_to(REPO).parts)))
    assert found <= listed, f"missing from pyproject packages: {sorted(found - listed)}"
