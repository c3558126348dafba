"""``rasign demo``: the four steps work, and the private key never outlives the command.

The demo's temporary directory holds an unencrypted private key, so every way out is
checked: success, a failing step, Ctrl-C (SIGINT) and SIGTERM; ``--keep`` is the only way
to keep it. Failures and interrupts are provoked through the child ``credential-process``:
an HTTPS proxy on loopback that refuses (fails at once) or accepts and never answers (the
demo is then provably still running when the signal arrives). The core-only run (no
boto3) is in tests/packaging/test_core_install.py.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import clean_env, run_rasign


def leftovers(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("rasign-demo-*"))


def demo_env(tmp: Path, **extra: str) -> dict[str, str]:
    return {"TMPDIR": str(tmp), "NO_PROXY": "", "no_proxy": "", **extra}


@pytest.fixture
def silent_proxy() -> Iterator[str]:
    """A loopback "proxy" that accepts connections and never answers: the child blocks."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def refusing_proxy() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_demo_runs_every_step_and_removes_its_directory(tmp_path: Path) -> None:
    result = run_rasign("demo", env=demo_env(tmp_path))
    assert result.returncode == 0, result.stderr
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]", "demo finished"):
        assert step in result.stdout
    assert "boto3 (profile with credential_process) called STS GetCallerIdentity: arn:aws:sts::" in result.stdout
    assert "[cleanup] removed" in result.stdout
    assert leftovers(tmp_path) == []


def test_keep_without_a_directory_keeps_the_temporary_one_and_says_where(tmp_path: Path) -> None:
    result = run_rasign("demo", "--keep", env=demo_env(tmp_path))
    assert result.returncode == 0, result.stderr
    (kept,) = leftovers(tmp_path)
    assert f"kept the demo files in {kept}" in result.stdout
    key = kept / "client-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert {path.name for path in kept.iterdir()} >= {"client-cert.pem", "client-key.pem", "root-ca.pem"}


def test_keep_with_a_directory_uses_it(tmp_path: Path) -> None:
    target = tmp_path / "demo-files"
    result = run_rasign("demo", "--keep", str(target), env=demo_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (target / "client-key.pem").is_file() and f"kept the demo files in {target}" in result.stdout
    assert leftovers(tmp_path) == []


def _unusable_keep_targets(tmp_path: Path) -> dict[str, tuple[Path | str, str]]:
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine\n")
    plain = tmp_path / "plain-file"
    plain.write_text("mine\n")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    return {
        "a directory with files": (full, "is not empty"),
        "a file": (plain, "is not a directory"),
        "a symbolic link": (link, "symbolic link"),
        "a missing parent": (tmp_path / "no" / "such", "cannot use"),
        "a newline": (str(tmp_path / "a\nb"), "control character"),
        "a name too long": (str(tmp_path / ("x" * 5000)), "cannot use"),
    }


@pytest.mark.parametrize(
    "case",
    ["a directory with files", "a file", "a symbolic link", "a missing parent", "a newline", "a name too long"],
)
def test_keep_never_writes_into_a_place_it_should_not(tmp_path: Path, case: str) -> None:
    """The demo writes a private key and an AWS config: never over someone's files, never via a link."""
    target, says = _unusable_keep_targets(tmp_path)[case]
    before = sorted(str(path) for path in tmp_path.rglob("*"))
    result = run_rasign("demo", "--keep", str(target), env=demo_env(tmp_path))
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr and "Traceback" not in result.stderr
    assert sorted(str(path) for path in tmp_path.rglob("*")) == before  # nothing created, nothing replaced
    assert not (tmp_path / "elsewhere").exists()


def test_a_failing_step_still_removes_the_directory(tmp_path: Path, refusing_proxy: str) -> None:
    # One attempt: the point is the cleanup after a failing step, not the retries' backoff (about 1.5 s).
    env = demo_env(tmp_path, HTTPS_PROXY=refusing_proxy, https_proxy=refusing_proxy, AWS_MAX_ATTEMPTS="1")
    result = run_rasign("demo", env=env)
    assert result.returncode == 9, (result.stdout, result.stderr)  # NetworkError from credential-process
    assert "[3/4] credential-process failed with exit code 9" in result.stdout
    assert "[cleanup] removed" in result.stdout
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_removes_the_directory(tmp_path: Path, silent_proxy: str, signum: int) -> None:
    env = clean_env(demo_env(tmp_path, HTTPS_PROXY=silent_proxy, https_proxy=silent_proxy))
    process = subprocess.Popen(
        [sys.executable, "-m", "rasign", "demo"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # step 3 then waits on the silent proxy
            lines.append(line)
            if line.startswith("[2/4]"):
                break
        assert lines and lines[-1].startswith("[2/4]"), lines
        assert len(leftovers(tmp_path)) == 1
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, (out, err)
    assert "[cleanup] removed" in out and "rasign: interrupted" in err
    assert leftovers(tmp_path) == []
