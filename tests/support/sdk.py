"""Real AWS SDK clients asking the emulator's STS who they are, written once.

Every delivery path (credential_process, IMDS, ECS, the credentials file) ends with the
same proof: boto3 or the AWS CLI, finding credentials only where the test points it,
signs ``sts get-caller-identity`` and the emulator verifies that SigV4 signature. The
tests differ in where the credentials come from, not in how the client is run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

BOTO3_SCRIPT = (
    "import boto3, json, sys\n"
    "profile = sys.argv[3] or None\n"
    "session = boto3.Session(profile_name=profile, region_name='us-east-1')\n"
    "creds = session.get_credentials()\n"
    "sts = session.client('sts', endpoint_url=sys.argv[1], verify=sys.argv[2])\n"
    "print(json.dumps({'method': creds.method, 'arn': sts.get_caller_identity()['Arn']}))\n"
)
"""Prints the credential provider botocore used (``creds.method``) and the caller's ARN."""


def boto3_caller(env: dict[str, str], emulator, profile: str | None = None) -> dict:
    """``{"method", "arn"}`` from boto3 in a fresh process with ``env`` (asserts it succeeded)."""
    result = subprocess.run(
        [sys.executable, "-c", BOTO3_SCRIPT, emulator.sts_endpoint, str(emulator.ca_bundle), profile or ""],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def aws_cli_path() -> str | None:
    """The AWS CLI installed next to this interpreter (the test extra brings it), or None."""
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    return aws if os.path.exists(aws) else None


def aws_cli_caller(aws: str, env: dict[str, str], emulator, profile: str | None = None) -> subprocess.CompletedProcess:
    """Run ``aws sts get-caller-identity`` against the emulator; the caller checks the result."""
    return subprocess.run(
        [
            aws,
            "sts",
            "get-caller-identity",
            *(["--profile", profile] if profile else []),
            "--endpoint-url",
            emulator.sts_endpoint,
            "--ca-bundle",
            str(emulator.ca_bundle),
            "--output",
            "json",
        ],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def aws_cli_arn(env: dict[str, str], emulator, profile: str | None = None) -> str:
    """The caller ARN the AWS CLI gets with ``env`` (skips the test where the CLI is missing)."""
    import pytest

    aws = aws_cli_path()
    if aws is None:
        pytest.skip("AWS CLI not installed in the virtualenv")
    result = aws_cli_caller(aws, env, emulator, profile)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["Arn"])
