"""Build the sdist and the wheel once per test session, and a core-only venv from the wheel.

Everything happens offline (tests reach nothing but loopback): the build runs with
``--no-isolation`` on the test venv's setuptools, and the core-only venv gets its
dependencies (cryptography and what it needs, nothing else: no requests, no boto3, no
python-pkcs11) linked from the test venv before the wheel is installed with ``--no-deps``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
CORE_DEPENDENCIES = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", ".benchmarks"
)


@dataclass(frozen=True)
class Built:
    """The two distributions ``python -m build`` made."""

    sdist: Path
    wheel: Path


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``python -m build --no-isolation`` of a copy of the checkout (so no build/ lands in it)."""
    root = tmp_path_factory.mktemp("build")
    source, dist = root / "source", root / "dist"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE, symlinks=True)
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return Built(sdist=sdist, wheel=wheel)


def requirement_closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` pull in (markers evaluated, no extras)."""
    from packaging.requirements import Requirement

    seen: dict[str, metadata.Distribution] = {}
    pending = list(requirements)
    while pending:
        requirement = Requirement(pending.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = requirement.name.lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = metadata.distribution(requirement.name)
        pending.extend(seen[key].requires or [])
    return list(seen.values())


def link_distributions(distributions: list[metadata.Distribution], target: Path) -> None:
    """Symlink each distribution's top-level packages, modules and dist-info into ``target``."""
    target.mkdir()
    for dist in distributions:
        for top in sorted({Path(str(file)).parts[0] for file in dist.files or []}):
            if top in ("..", "__pycache__") or (target / top).exists():
                continue
            (target / top).symlink_to(dist.locate_file(top))


@dataclass(frozen=True)
class CoreVenv:
    """A venv with rasign's wheel and only its core dependencies."""

    root: Path
    workdir: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """The host environment minus anything that could point back at the checkout or AWS."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "RASIGN_", "PYTHON", "VIRTUAL_ENV")) and k.lower() != "no_proxy"
        }
        env.update(extra)
        return env

    def run(self, program: str, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / program), *args],
            cwd=self.workdir,
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
        )


@pytest.fixture(scope="session")
def core_venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreVenv]:
    """``python -m venv``, the core dependencies, then ``pip install --no-deps`` of the wheel."""
    root = tmp_path_factory.mktemp("core-venv")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    assert purelib.is_dir(), purelib
    deps = root / "core-dependencies"
    link_distributions(requirement_closure(CORE_DEPENDENCIES), deps)
    (purelib / "rasign-core-dependencies.pth").write_text(f"{deps}\n")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "-q",
            str(built.wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    workdir = root / "cwd"  # not the checkout: nothing may be imported from the source tree
    workdir.mkdir()
    yield CoreVenv(root=venv, workdir=workdir)
