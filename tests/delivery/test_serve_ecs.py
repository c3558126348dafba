"""``rasign serve --ecs``: container credentials for real SDK clients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.delivery.helpers import aws_env, request, serve_args, start_rasign
from tests.support.sdk import aws_cli_arn, boto3_caller

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def ecs_served(emulator, pki, tmp_path_factory):
    """One serve --ecs process for the tests that only send it requests (none changes its state)."""
    cert, key = pki.software_identity(stem="serve-ecs-shared")
    tmp = tmp_path_factory.mktemp("ecs-served")
    running = start_rasign(
        "serve", serve_args(emulator, cert, key, "--ecs", "--auth-token-file", str(tmp / "token")), tmp
    )
    yield running
    assert running.stop() == 0


def test_boto3_with_full_uri_and_token_file(ecs_served, emulator, tmp_path):
    env = aws_env(
        tmp_path,
        AWS_CONTAINER_CREDENTIALS_FULL_URI=ecs_served.ready["ecs_uri"],
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=ecs_served.ready["auth_token_file"],
    )
    output = boto3_caller(env, emulator)
    assert output["method"] == "container-role"
    assert emulator.role_arn.rsplit("/", 1)[-1] in output["arn"]


def test_boto3_with_full_uri_and_token_variable(ecs_served, emulator, tmp_path):
    token = Path(ecs_served.ready["auth_token_file"]).read_text().strip()
    env = aws_env(
        tmp_path,
        AWS_CONTAINER_CREDENTIALS_FULL_URI=ecs_served.ready["ecs_uri"],
        AWS_CONTAINER_AUTHORIZATION_TOKEN=token,
    )
    assert boto3_caller(env, emulator)["method"] == "container-role"


def test_ecs_document_shape(ecs_served, emulator):
    token = Path(ecs_served.ready["auth_token_file"]).read_text().strip()
    status, headers, body = request("127.0.0.1", ecs_served.port, "GET", "/v1/credentials", {"Authorization": token})
    assert status == 200 and headers["content-type"] == "application/json"
    document = json.loads(body)
    assert set(document) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}
    assert document["RoleArn"] == emulator.role_arn


def test_ecs_requires_the_authorization_token(ecs_served):
    for headers in ({}, {"Authorization": "not-the-token"}):
        status, _, body = request("127.0.0.1", ecs_served.port, "GET", "/v1/credentials", headers)
        assert status == 401 and b"AccessKeyId" not in body


def test_generated_token_file_is_private_and_removed_on_exit(emulator, identity, tmp_path):
    import os
    import stat

    cert, key = identity
    running = start_rasign(
        "serve", serve_args(emulator, cert, key, "--ecs"), tmp_path, env={"RASIGN_CACHE_DIR": str(tmp_path / "private")}
    )
    path = running.ready["auth_token_file"]
    assert path.startswith(str(tmp_path / "private"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = Path(path).read_text().strip()
    assert token not in running.log()
    assert running.stop() == 0
    assert not os.path.exists(path)


@pytest.mark.awscli
def test_aws_cli_gets_credentials_through_the_ecs_endpoint(ecs_served, emulator, tmp_path):
    env = aws_env(
        tmp_path,
        AWS_CONTAINER_CREDENTIALS_FULL_URI=ecs_served.ready["ecs_uri"],
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=ecs_served.ready["auth_token_file"],
        AWS_DEFAULT_REGION="us-east-1",
    )
    assert emulator.role_arn.rsplit("/", 1)[-1] in aws_cli_arn(env, emulator)
