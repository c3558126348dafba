"""ruff (lint and format) and mypy are part of the suite, configured in pyproject.toml.

mypy runs on a staged copy of the package laid out as it installs (``backends/`` becomes
``rasign/backends``), because that mapping exists only in the setuptools configuration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in the venv; scripts/bootstrap.sh installs it")
    return str(path)


def test_ruff_lint_is_clean():
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _mypy_cache(tmp_path: Path) -> Path:
    """mypy's incremental cache, kept in the test venv so later runs recheck only what changed.

    mypy validates every cached module against its source hash, its options and its own
    version, so a warm cache gives the same verdict as a cold run (about 0.5 s instead of
    10 s). The venv is private to the checkout and never part of a build; without a
    writable venv the cache is per run, as before.
    """
    if sys.prefix != sys.base_prefix and os.access(sys.prefix, os.W_OK):
        return Path(sys.prefix) / "rasign-mypy-cache"
    return tmp_path / "cache"


def test_mypy_is_clean(tmp_path):
    staged = tmp_path / "rasign"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "rasign", staged, ignore=ignore)
    shutil.copytree(REPO / "backends", staged / "backends", ignore=ignore)
    result = subprocess.run(
        [
            _tool("mypy"),
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(_mypy_cache(tmp_path)),
            "-p",
            "rasign",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    report = result.stdout.replace("rasign/backends/", "backends/")
    assert result.returncode == 0, report + result.stderr
