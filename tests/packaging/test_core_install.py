"""The wheel on a core-only install (cryptography, nothing else: not even requests) works.

This is what ``pip install rasign`` (or a built wheel) gives a user who wants file keys:
no boto3, no python-pkcs11, no tpm2-pytss, no system package, no root. The venv is built
from the wheel in conftest.py, outside the checkout, so nothing comes from the source tree.
"""

from __future__ import annotations

import rasign
from tests.packaging.conftest import CoreVenv


def test_both_console_scripts_print_the_version(core_venv: CoreVenv) -> None:
    for program in ("rasign", "aws_signing_helper"):
        result = core_venv.run(program, "version")
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{rasign.__version__}\n"


def test_it_is_the_installed_wheel_without_extras_or_test_helpers(core_venv: CoreVenv) -> None:
    probe = (
        "import importlib.util as u, rasign, rasign.emulator;"
        "print(rasign.__file__);"
        "print([m for m in ('boto3', 'requests', 'urllib3', 'pkcs11', 'tpm2_pytss', 'rasign.emulator.testing', 'tests')"
        " if u.find_spec(m) is not None])"
    )
    result = core_venv.run("python", "-c", probe)
    assert result.returncode == 0, result.stderr
    location, found = result.stdout.splitlines()
    assert location.startswith(str(core_venv.root)) and found == "[]"


def test_a_missing_extra_is_named_with_its_pip_command(core_venv: CoreVenv) -> None:
    result = core_venv.run("rasign", "read-certificate-data", "--certificate", "pkcs11:token=none")
    assert result.returncode == 7, result.stdout + result.stderr
    assert "pip install 'rasign[pkcs11]'" in result.stderr and "Traceback" not in result.stderr


def test_demo_runs_without_boto3_and_cleans_up(core_venv: CoreVenv, tmp_path) -> None:
    result = core_venv.run("rasign", "demo", TMPDIR=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "[4/4] rasign's SigV4 client called STS GetCallerIdentity with those credentials: arn:aws:sts::"
        in result.stdout
    )
    assert "pip install 'rasign[boto3]'" in result.stdout
    assert "[cleanup] removed" in result.stdout and not list(tmp_path.glob("rasign-demo-*"))
