"""Nothing in the repository reaches outside the clone.

The suite once read the known-answer vectors from a directory beside the checkout, so a fresh clone
failed 25 tests. ``.ci/run`` now tests a clone with nothing beside it; this test names the
offending file at once, on any machine, instead of a stage later as a missing-file error.
"""

from __future__ import annotations

import re
import subprocess

from tests.packaging.conftest import REPO

OUTSIDE = re.compile(r"/work/|\.\./shared|shared/(vectors|docs)\b|/usr/share/doc/rasign")
TEXT_SUFFIXES = {".py", ".md", ".sh", ".toml", ".txt", ".in", ".service", ".cfg", ".ini", ".json", ".module", ""}


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if listed.returncode == 0:
        return [name for name in listed.stdout.splitlines() if (REPO / name).is_file()]
    # An unpacked sdist has no git: every file but the build's own metadata.
    return [
        path.relative_to(REPO).as_posix()
        for path in REPO.rglob("*")
        if path.is_file() and not {".venv", "__pycache__", ".git"} & set(path.parts)
    ]


def test_no_file_points_outside_the_clone() -> None:
    offenders = []
    for name in repository_files():
        path = REPO / name
        if path.suffix not in TEXT_SUFFIXES or name.startswith("tests/vectors/"):
            continue  # the vectors' own NOTICE/README are kept exactly as their sources wrote them
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line) and "OUTSIDE = re.compile" not in line:
                offenders.append(f"{name}:{number}: {line.strip()[:100]}")
    assert not offenders, "\n".join(offenders)
