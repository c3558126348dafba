"""Long-running commands make themselves non-dumpable and keep secrets out of /proc and ps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc are Linux-only")

CHILD = textwrap.dedent(
    """
    import ctypes, os, resource, sys
    from rasign.hardening import harden_process
    from rasign.secrets import secret_from_env
    missing = harden_process()
    print(missing, ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))
    print(resource.getrlimit(resource.RLIMIT_CORE))
    print("RASIGN_PKCS11_PIN" in os.environ, os.environ.get("KEEP_ME"), secret_from_env("RASIGN_PKCS11_PIN"))
    print(open("/proc/self/environ", "rb").read().count(b"s3cr3t-pin"))
    cmdline = open("/proc/self/cmdline", "rb").read()
    print(cmdline.count(b"hunter2"), cmdline.count(b"1234"), cmdline.count(b"abcdef"))
    print(sys.argv[1:] == ["--pkcs8-password", "hunter2", "--tpm-key-password=abcdef", "pkcs11:token=t;pin-value=1234", "x"])
    """
)


@pytest.fixture(scope="module")
def child_script(tmp_path_factory):
    # A file, not ``-c``: the code itself would otherwise sit in the argv region it inspects.
    path = tmp_path_factory.mktemp("hardening") / "child.py"
    path.write_text(CHILD)
    return str(path)


def _run_child(script: str) -> list[str]:
    env = dict(os.environ, RASIGN_PKCS11_PIN="s3cr3t-pin", KEEP_ME="1", PYTHONPATH=REPO)
    argv = [
        sys.executable,
        script,
        "--pkcs8-password",
        "hunter2",
        "--tpm-key-password=abcdef",
        "pkcs11:token=t;pin-value=1234",
        "x",
    ]
    return subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout.split("\n")


def test_non_dumpable_and_no_core_files(child_script):
    out = _run_child(child_script)
    assert out[0] == "[] 0"  # nothing missing; PR_GET_DUMPABLE answers 0
    assert out[1] == "(0, 0)"


def test_secret_variables_leave_the_environment_but_stay_usable(child_script):
    out = _run_child(child_script)
    assert out[2] == "False 1 s3cr3t-pin"
    assert out[3] == "0"  # not even in the original environment block read by /proc/PID/environ


def test_command_line_secrets_are_masked_for_ps_but_argv_is_intact(child_script):
    out = _run_child(child_script)
    assert out[4] == "0 0 0"
    assert out[5] == "True"
