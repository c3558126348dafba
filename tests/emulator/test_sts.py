"""STS GetCallerIdentity with issued credentials, through real boto3 and the real AWS CLI.

The emulator checks the SDK's SigV4 HMAC signature with the secret it issued, so these
tests prove that the credentials CreateSession handed out are usable, and that anything
else (wrong secret, foreign token, unknown key, expired credentials) is refused with the
STS error shape botocore parses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator.factory import make_leaf, new_key
from tests.support.emulator_client import prepare_create_session, send

pytestmark = pytest.mark.network

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def sts_client(emu, access_key, secret, token, region="us-east-1"):
    return boto3.client(
        "sts",
        endpoint_url=emu.sts_endpoint,
        verify=emu.ca_bundle,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=NO_RETRIES,
    )


def error_of(call):
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response


def test_boto3_get_caller_identity(emu, issued_credentials):
    c = issued_credentials
    identity = sts_client(emu, c.access_key_id, c.secret_access_key, c.session_token).get_caller_identity()
    assert identity["Arn"] == c.assumed_role_arn
    assert identity["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/rasign-test-role/")
    assert identity["UserId"] == c.assumed_role_id
    assert identity["Account"] == "123456789012"
    assert emu.requests[-1]["path"] == "/sts/"
    assert emu.requests[-1]["status"] == 200


def test_boto3_with_wrong_secret_fails(emu, issued_credentials):
    c = issued_credentials
    wrong = ("A" if c.secret_access_key[0] != "A" else "B") + c.secret_access_key[1:]
    response = error_of(sts_client(emu, c.access_key_id, wrong, c.session_token).get_caller_identity)
    assert response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert response["Error"]["Type"] == "Sender"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unknown_access_key_fails(emu, issued_credentials):
    c = issued_credentials
    response = error_of(
        sts_client(emu, "ASIA0000000000000000", c.secret_access_key, c.session_token).get_caller_identity
    )
    assert response["Error"]["Code"] == "InvalidClientTokenId"


def test_wrong_session_token_fails(emu, issued_credentials):
    c = issued_credentials
    response = error_of(
        sts_client(emu, c.access_key_id, c.secret_access_key, c.session_token[:-4] + "AAAA").get_caller_identity
    )
    assert response["Error"]["Code"] == "InvalidClientTokenId"


def test_missing_session_token_fails(emu, issued_credentials):
    c = issued_credentials
    response = error_of(sts_client(emu, c.access_key_id, c.secret_access_key, None).get_caller_identity)
    assert response["Error"]["Code"] == "InvalidClientTokenId"


def test_wrong_signing_region_fails(emu, issued_credentials):
    c = issued_credentials
    response = error_of(
        sts_client(emu, c.access_key_id, c.secret_access_key, c.session_token, region="eu-west-1").get_caller_identity
    )
    assert response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert "eu-west-1" in response["Error"]["Message"]


def test_expired_credentials_fail(fresh_emu, emu_root):
    key = new_key("p256")
    cert = make_leaf(emu_root, key)
    # Issue 900-second credentials 1000 s in the emulator's past (the request is signed
    # at that emulator time so it passes the skew check), then return to real time:
    # the credentials have expired 100 s ago while botocore signs with the real clock.
    fresh_emu.clock_offset = -1000
    prepared = prepare_create_session(fresh_emu, cert, key, duration_seconds=900, when=fresh_emu.now())
    assert send(prepared, fresh_emu.ca_bundle).status_code == 201
    fresh_emu.clock_offset = 0
    c = fresh_emu.issued[-1]
    response = error_of(
        sts_client(fresh_emu, c.access_key_id, c.secret_access_key, c.session_token).get_caller_identity
    )
    assert response["Error"]["Code"] == "ExpiredToken"


def test_unsupported_action_is_refused(emu, issued_credentials):
    c = issued_credentials
    client = sts_client(emu, c.access_key_id, c.secret_access_key, c.session_token)
    response = error_of(lambda: client.get_session_token())
    assert response["Error"]["Code"] == "InvalidAction"


def _aws_cli(emu, env_extra):
    aws = Path(sys.executable).with_name("aws")
    if not aws.exists():
        pytest.skip("AWS CLI not installed in the virtualenv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="1",
        **env_extra,
    )
    return subprocess.run(
        [
            str(aws),
            "sts",
            "get-caller-identity",
            "--endpoint-url",
            emu.sts_endpoint,
            "--ca-bundle",
            emu.ca_bundle,
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.awscli
def test_aws_cli_get_caller_identity(emu, issued_credentials):
    import json

    c = issued_credentials
    result = _aws_cli(
        emu,
        {
            "AWS_ACCESS_KEY_ID": c.access_key_id,
            "AWS_SECRET_ACCESS_KEY": c.secret_access_key,
            "AWS_SESSION_TOKEN": c.session_token,
        },
    )
    assert result.returncode == 0, result.stderr
    identity = json.loads(result.stdout)
    assert identity["Arn"] == c.assumed_role_arn
    assert identity["Account"] == "123456789012"


@pytest.mark.awscli
def test_aws_cli_with_wrong_secret(emu, issued_credentials):
    c = issued_credentials
    result = _aws_cli(
        emu,
        {"AWS_ACCESS_KEY_ID": c.access_key_id, "AWS_SECRET_ACCESS_KEY": "x" * 40, "AWS_SESSION_TOKEN": c.session_token},
    )
    assert result.returncode != 0
    assert "SignatureDoesNotMatch" in result.stderr


def test_query_string_get_signed_by_botocore(emu, issued_credentials):
    """The query protocol over GET: botocore's own SigV4 signer, parameters in the URL."""
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    c = issued_credentials
    request = AWSRequest(method="GET", url=emu.sts_endpoint + "?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4Auth(Credentials(c.access_key_id, c.secret_access_key, c.session_token), "sts", "us-east-1").add_auth(request)
    response = requests.get(request.url, headers=dict(request.headers.items()), verify=emu.ca_bundle, timeout=10)
    assert response.status_code == 200, response.text
    assert f"<Arn>{c.assumed_role_arn}</Arn>" in response.text
    tampered = requests.get(
        request.url.replace("2011-06-15", "2011-06-16"),
        headers=dict(request.headers.items()),
        verify=emu.ca_bundle,
        timeout=10,
    )
    assert tampered.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in tampered.text
