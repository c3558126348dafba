"""The module recipes of docs/pkcs11.md ("The modules users have") run as written.

Each recipe is one self-contained bash block that brings its module up in a temporary
directory and ends with ``rasign sign-string``; this runs them with the checkout's rasign
on PATH. Once the project's doc-example harness (tests/docs) is present it runs every
block of the page itself, so this file then steps aside instead of running them twice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "pkcs11.md"
SECTION = "## The modules users have"


def recipes() -> list[tuple[str, str]]:
    text = PAGE.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    found = []
    heading = ""
    for match in re.finditer(r"^### ([^\n]+)$|^```bash\n(.*?)^```$", text[start:end], re.M | re.S):
        if match.group(1):
            heading = match.group(1).split(" (")[0]
        else:
            found.append((heading, match.group(2)))
    return found


def test_every_module_has_a_recipe():
    names = [name for name, _ in recipes()]
    assert names == ["p11-kit remoting", "tpm2-pkcs11", "opencryptoki", "NSS softokn"], names


@pytest.mark.parametrize(("name", "script"), recipes(), ids=[name for name, _ in recipes()])
def test_recipe_runs_and_signs(name, script, tmp_path):
    if (REPO / "tests" / "docs" / "test_examples.py").exists():
        pytest.skip("tests/docs/test_examples.py runs every block of docs/pkcs11.md")
    if os.geteuid() != 0:
        pytest.skip("the recipes are written for root (private mount namespace, daemons)")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        "TMPDIR": str(tmp_path),
        "RASIGN_CACHE_DIR": str(tmp_path / "cache"),
    }
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        try:  # whatever the recipe left running goes with its process group
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert done.returncode == 0, f"{name} recipe failed:\n{done.stderr[-2000:]}"
    signature = done.stdout.strip().splitlines()[-1]  # sign-string's hex, the recipe's last output
    assert re.fullmatch(r"[0-9a-f]{128,1024}", signature), done.stdout
    assert "ERROR" not in done.stderr and "CRITICAL" not in done.stderr, done.stderr
