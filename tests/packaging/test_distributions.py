"""The sdist is a complete, testable source tree; the wheel is the product and nothing else.

Both are built offline from a copy of the checkout (see conftest.py) and checked the way a
packager or PyPI would: contents, metadata, entry points, and ``twine check --strict``.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import tomllib

from tests.packaging.conftest import REPO, Built

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# What the sdist must carry so that an unpacked sdist can be tested and deployed.
SOURCE_TREES = ("docs", "tests", "softhsm", "virtualpiv", "scripts", "bench")
SKIPPED = {"__pycache__", ".benchmarks", ".pytest_cache"}


def sdist_names(built: Built) -> set[str]:
    with tarfile.open(built.sdist) as archive:
        names = archive.getnames()
    prefix = names[0].split("/")[0] + "/"
    return {name[len(prefix) :] for name in names if name.startswith(prefix)}


def wheel_names(built: Built) -> set[str]:
    with zipfile.ZipFile(built.wheel) as archive:
        return set(archive.namelist())


def wheel_text(built: Built, suffix: str) -> str:
    with zipfile.ZipFile(built.wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(suffix)]
        return archive.read(name).decode("utf-8")


def tracked_files(tree: str) -> set[str]:
    files = set()
    for path in (REPO / tree).rglob("*"):
        if path.is_file() and not SKIPPED & set(path.parts) and path.suffix != ".pyc":
            files.add(path.relative_to(REPO).as_posix())
    return files


def test_sdist_carries_docs_tests_vectors_units_softhsm_and_scripts(built: Built) -> None:
    names = sdist_names(built)
    for top in ("LICENSE", "README.md", "pyproject.toml", "constraints.txt", "MANIFEST.in", "PKG-INFO"):
        assert top in names
    for required in (
        "docs/exit-codes.md",
        "docs/systemd/rasign-serve.service",
        "docs/systemd/rasign-update@.service",
        "tests/vectors/NOTICE.md",
        "tests/vectors/README.md",
        "tests/vectors/licenses/Apache-2.0.txt",
        "tests/vectors/v1.json",
        "tests/test_vectors.py",
        "softhsm/provision.py",
        "scripts/test.sh",
    ):
        assert required in names, required
    for tree in SOURCE_TREES:
        missing = tracked_files(tree) - names
        assert not missing, f"{tree}/ files missing from the sdist: {sorted(missing)[:10]}"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc") or ".venv/" in name]


def test_wheel_ships_the_product_only(built: Built) -> None:
    names = wheel_names(built)
    modules = {name for name in names if name.endswith(".py")}
    assert modules and all(name.startswith("rasign/") for name in modules), sorted(modules)[:5]
    assert not [
        name for name in names if name.startswith(("tests/", "softhsm/", "virtualpiv/", "scripts/", "bench/", "docs/"))
    ]
    # Test-only helpers live in tests/support/, not in the runtime package.
    assert "rasign/emulator/testing.py" not in names and "rasign/backends/store/fake.py" not in names
    # The emulator is a product feature and stays; backends/ installs as rasign.backends.
    assert {"rasign/emulator/server.py", "rasign/backends/file.py", "rasign/py.typed"} <= names
    for package in PYPROJECT["tool"]["setuptools"]["packages"]:
        assert package.replace(".", "/") + "/__init__.py" in names, package


def test_wheel_metadata_has_spdx_licence_urls_and_classifiers(built: Built) -> None:
    info = Parser().parsestr(wheel_text(built, ".dist-info/METADATA"))
    assert info["License-Expression"] == "Apache-2.0"
    assert info.get_all("License-File") == ["LICENSE"]
    assert not [c for c in info.get_all("Classifier") if c.startswith("License ::")]  # PEP 639: SPDX only
    assert "Typing :: Typed" in info.get_all("Classifier")
    urls = dict(url.split(", ", 1) for url in info.get_all("Project-URL"))
    assert urls["Source"].startswith("https://") and "Documentation" in urls
    assert info["Author"] == "rasign developers" and "roles-anywhere" in info["Keywords"]
    licence = [name for name in wheel_names(built) if name.endswith(".dist-info/licenses/LICENSE")]
    assert licence and "Apache License" in wheel_text(built, ".dist-info/licenses/LICENSE")


def test_wheel_entry_points_are_the_commands_and_backends(built: Built) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel_text(built, ".dist-info/entry_points.txt"))
    assert dict(entry_points["console_scripts"]) == {
        "rasign": "rasign.entry:run",
        "aws_signing_helper": "rasign.entry:run",
    }
    assert dict(entry_points["rasign.backends"]) == PYPROJECT["project"]["entry-points"]["rasign.backends"]


def test_twine_check_strict_passes(built: Built) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(built.sdist), str(built.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_systemd_units_point_at_installed_or_online_docs() -> None:
    for unit in Path(REPO / "docs" / "systemd").glob("*.service"):
        documentation = [line for line in unit.read_text().splitlines() if line.startswith("Documentation=")]
        assert documentation, unit.name
        for line in documentation:
            assert line.startswith(("Documentation=https://", "Documentation=man:")), line
