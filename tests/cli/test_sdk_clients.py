"""Real SDK clients consume rasign's output: boto3 and the AWS CLI with a credential_process profile.

The emulator checks the SDK's SigV4 (HMAC) signature made with the issued credentials, so
a pass proves the whole chain: SigV4-X509 accepted, credentials parsed by botocore, and the
SDK able to sign with them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_env, emulator_args
from tests.support.sdk import aws_cli_caller

pytestmark = pytest.mark.network


def write_config(tmp_path: Path, command: list[str]) -> Path:
    config = tmp_path / "config"
    config.write_text("[profile ra]\ncredential_process = " + shlex.join(command) + "\nregion = us-east-1\n")
    return config


def rasign_command(cert: Path, key: Path, emulator) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rasign",
        "credential-process",
        "--certificate",
        str(cert),
        "--private-key",
        str(key),
        *emulator_args(emulator),
    ]


def test_boto3_credential_process_profile(pki, emulator, tmp_path, monkeypatch):
    import boto3

    cert, key = pki.software_identity("ec", stem="sdk-boto3")
    config = write_config(tmp_path, rasign_command(cert, key, emulator))
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    session = boto3.Session(profile_name="ra")
    identity = session.client(
        "sts", endpoint_url=emulator.sts_endpoint, verify=str(emulator.ca_bundle)
    ).get_caller_identity()
    assert identity["Arn"].startswith(f"arn:aws:sts::{emulator.account_id}:assumed-role/")
    assert identity["Account"] == emulator.account_id


@pytest.mark.awscli
def test_aws_cli_credential_process_profile(pki, emulator, tmp_path):
    aws = shutil.which("aws", path=str(Path(sys.executable).parent))
    if aws is None:
        pytest.fail("the AWS CLI is part of the test extra and must be installed")
    cert, key = pki.software_identity("rsa", stem="sdk-cli")
    config = write_config(tmp_path, rasign_command(cert, key, emulator))
    env = clean_env({"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})
    result = aws_cli_caller(aws, env, emulator, profile="ra")
    assert result.returncode == 0, result.stderr
    assert f"arn:aws:sts::{emulator.account_id}:assumed-role/" in result.stdout
