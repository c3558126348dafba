"""Role chaining against the emulator's AssumeRole: trust relation, external ID, source identity, tags, cache."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rasign.emulator.assume_role import add_trusted_role, session_tags
from tests.conftest import clean_env, run_rasign
from tests.identities.conftest import identity_table, write_private

pytestmark = pytest.mark.network

OTHER_ACCOUNT = "210987654321"


def chained_config(tmp_path, cert, key, emulator, steps: str, name: str = "prod", **extra):
    text = identity_table(name, cert, key, emulator, sts_endpoint=emulator.sts_endpoint, **extra) + "\n" + steps
    return write_private(tmp_path / "config.toml", text)


def caller_identity(document: dict, emulator) -> dict:
    import boto3

    sts = boto3.client(
        "sts",
        endpoint_url=emulator.sts_endpoint,
        verify=str(emulator.ca_bundle),
        region_name="us-east-1",
        aws_access_key_id=document["AccessKeyId"],
        aws_secret_access_key=document["SecretAccessKey"],
        aws_session_token=document["SessionToken"],
    )
    return sts.get_caller_identity()


def test_chained_role_in_a_second_account(software_identity, emulator, tmp_path):
    cert, key = software_identity
    target = add_trusted_role(
        emulator.state, "deploy", account_id=OTHER_ACCOUNT, trusted=[emulator.role_arn], external_id="ext-123"
    )
    steps = (
        f'[[identity.prod.chain]]\nrole-arn = "{target}"\nexternal-id = "ext-123"\n'
        'role-session-name = "{identity}-deploy"\n'
        'duration = 900\ntags = { team = "blue" }\n'
    )
    config = chained_config(tmp_path, cert, key, emulator, steps)
    issued_before = len(emulator.issued)  # the emulator is the session's: other tests minted on it first
    result = run_rasign("credential-process", "--identity", "prod", "--no-cache", "--config", str(config))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    identity = caller_identity(document, emulator)
    assert identity["Account"] == OTHER_ACCOUNT
    assert identity["Arn"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/deploy/prod-deploy"
    issued = emulator.state.lookup(document["AccessKeyId"])
    first_session = next(
        creds
        for creds in emulator.issued[issued_before:]
        if creds.role_arn == emulator.role_arn and creds.trust_anchor_arn == issued.trust_anchor_arn
    )
    assert issued.source_identity == first_session.source_identity != ""  # Roles Anywhere's CN, propagated
    assert session_tags(emulator.state, document["AccessKeyId"]) == {"team": "blue"}


def test_two_hops_propagate_the_source_identity(software_identity, emulator, tmp_path):
    cert, key = software_identity
    first = add_trusted_role(emulator.state, "hop1", account_id=OTHER_ACCOUNT, trusted=[emulator.role_arn])
    second = add_trusted_role(emulator.state, "hop2", account_id="333344445555", trusted=[first])
    steps = f'[[identity.prod.chain]]\nrole-arn = "{first}"\n\n[[identity.prod.chain]]\nrole-arn = "{second}"\n'
    config = chained_config(tmp_path, cert, key, emulator, steps)
    result = run_rasign("credential-process", "--identity", "prod", "--no-cache", "--config", str(config))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert caller_identity(document, emulator)["Arn"] == "arn:aws:sts::333344445555:assumed-role/hop2/rasign-prod"
    assert emulator.state.lookup(document["AccessKeyId"]).source_identity.startswith("CN=")


def test_changing_the_source_identity_is_refused_with_the_reason(software_identity, emulator, tmp_path):
    cert, key = software_identity
    target = add_trusted_role(emulator.state, "renamed", account_id=OTHER_ACCOUNT, trusted=[emulator.role_arn])
    steps = f'[[identity.prod.chain]]\nrole-arn = "{target}"\nsource-identity = "mallory"\n'
    config = chained_config(tmp_path, cert, key, emulator, steps)
    result = run_rasign("credential-process", "--identity", "prod", "--no-cache", "--config", str(config))
    assert result.returncode == 10
    assert "source identity" in result.stderr and "remove source-identity" in result.stderr


@pytest.mark.parametrize("problem", ["untrusted", "external-id"])
def test_denied_chain_is_one_line_with_the_fix(software_identity, emulator, tmp_path, problem):
    cert, key = software_identity
    trusted = ["arn:aws:iam::123456789012:role/someone-else"] if problem == "untrusted" else [emulator.role_arn]
    target = add_trusted_role(
        emulator.state, f"locked-{problem}", account_id=OTHER_ACCOUNT, trusted=trusted, external_id="right"
    )
    external = "right" if problem == "untrusted" else "wrong"
    steps = f'[[identity.prod.chain]]\nrole-arn = "{target}"\nexternal-id = "{external}"\n'
    config = chained_config(tmp_path, cert, key, emulator, steps)
    result = run_rasign("credential-process", "--identity", "prod", "--no-cache", "--config", str(config))
    assert result.returncode == 11, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not authorized to perform: sts:AssumeRole" in result.stderr and "trust policy" in result.stderr


def test_chained_role_is_cached_and_a_hit_imports_no_botocore(software_identity, emulator, tmp_path):
    cert, key = software_identity
    target = add_trusted_role(emulator.state, "cached", account_id=OTHER_ACCOUNT, trusted=[emulator.role_arn])
    config = chained_config(tmp_path, cert, key, emulator, f'[[identity.prod.chain]]\nrole-arn = "{target}"\n')
    env = {"RASIGN_CONFIG": str(config), "RASIGN_CACHE_DIR": str(tmp_path / "cache")}
    first = run_rasign("credential-process", "--identity", "prod", env=env)
    assert first.returncode == 0, first.stderr
    issued_before = len(emulator.issued)
    probe = (
        "import sys, io, contextlib\n"
        "from rasign.cli.main import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = main(['credential-process', '--identity', 'prod'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3', 'requests', 'urllib3'))\n"
        "print(code, out.getvalue() == sys.argv[1], heavy)\n"
    )
    second = subprocess.run(
        [sys.executable, "-c", probe, first.stdout], env=clean_env(env), capture_output=True, text=True, timeout=60
    )
    assert second.stdout.strip() == "0 True []", second.stderr
    assert len(emulator.issued) == issued_before  # neither CreateSession nor AssumeRole ran


def test_chained_identity_through_exec(software_identity, emulator, tmp_path):
    cert, key = software_identity
    target = add_trusted_role(emulator.state, "via-exec", account_id=OTHER_ACCOUNT, trusted=[emulator.role_arn])
    config = chained_config(tmp_path, cert, key, emulator, f'[[identity.prod.chain]]\nrole-arn = "{target}"\n')
    child = (
        "import boto3, sys\n"
        "print(boto3.client('sts', endpoint_url=sys.argv[1], verify=sys.argv[2]).get_caller_identity()['Arn'])\n"
    )
    result = run_rasign(
        "exec",
        "--identity",
        "prod",
        "--server",
        "--config",
        str(config),
        "--",
        sys.executable,
        "-c",
        child,
        emulator.sts_endpoint,
        str(emulator.ca_bundle),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/via-exec/rasign-prod"


def test_serve_hands_out_the_chained_role(software_identity, emulator, tmp_path):
    from tests.delivery.helpers import ROLE_PATH, get_imds, start_rasign, token

    cert, key = software_identity
    target = add_trusted_role(emulator.state, "served-chain", account_id=OTHER_ACCOUNT, trusted=[emulator.role_arn])
    config = chained_config(tmp_path, cert, key, emulator, f'[[identity.prod.chain]]\nrole-arn = "{target}"\n')
    running = start_rasign("serve", ["--identity", "prod", "--config", str(config), "--port", "0"], tmp_path)
    try:
        port = running.ready["port"]
        imds_token = token(port)
        role = running.ready["role_name"]
        assert role == "served-chain"  # IMDS names the role it hands out: the chain's last
        status, _, body = get_imds(port, f"{ROLE_PATH}/{role}", imds_token)
        assert status == 200, body
        served = json.loads(body)
        document = {
            "AccessKeyId": served["AccessKeyId"],
            "SecretAccessKey": served["SecretAccessKey"],
            "SessionToken": served["Token"],
        }
        assert caller_identity(document, emulator)["Account"] == OTHER_ACCOUNT
    finally:
        running.stop()


def test_update_writes_the_chained_role(software_identity, emulator, tmp_path):
    cert, key = software_identity
    target = add_trusted_role(emulator.state, "written-chain", account_id=OTHER_ACCOUNT, trusted=[emulator.role_arn])
    config = chained_config(tmp_path, cert, key, emulator, f'[[identity.prod.chain]]\nrole-arn = "{target}"\n')
    credentials_file = tmp_path / "credentials"
    result = run_rasign(
        "update",
        "--once",
        "--identity",
        "prod",
        "--config",
        str(config),
        "--profile",
        "chained",
        "--credentials-file",
        str(credentials_file),
    )
    assert result.returncode == 0, result.stderr
    import configparser

    parser = configparser.ConfigParser()
    parser.read(credentials_file)
    section = parser["chained"]
    document = {
        "AccessKeyId": section["aws_access_key_id"],
        "SecretAccessKey": section["aws_secret_access_key"],
        "SessionToken": section["aws_session_token"],
    }
    assert caller_identity(document, emulator)["Account"] == OTHER_ACCOUNT


def test_python_api_session_from_a_chained_identity(pki, tmp_path):
    import rasign.api
    from rasign.emulator import Emulator

    cert, key = pki.software_identity("ec", stem="api-chain")
    with Emulator(trust_anchor_pems=[pki.root_pem], accept_role_session_name=True) as emu:
        target = add_trusted_role(emu.state, "via-api", account_id=OTHER_ACCOUNT, trusted=[emu.role_arn])
        config = chained_config(
            tmp_path,
            cert,
            key,
            emu,
            f'[[identity.prod.chain]]\nrole-arn = "{target}"\n',
            role_session_name="{identity}-api",
        )
        session = rasign.api.session(identity="prod", identity_file=str(config), region_name="us-east-1")
        sts = session.client("sts", endpoint_url=emu.sts_endpoint, verify=str(emu.ca_bundle))
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/via-api/rasign-prod"
        first = next(c for c in emu.issued if c.role_arn == emu.role_arn)
        assert first.role_session_name == "prod-api"  # the identity's template reached CreateSession


def test_python_api_session_from_a_plain_identity_with_an_override(software_identity, emulator, tmp_path):
    import rasign.api

    cert, key = software_identity
    config = chained_config(tmp_path, cert, key, emulator, "")
    session = rasign.api.session(identity="prod", identity_file=str(config), session_duration=1800)
    sts = session.client("sts", endpoint_url=emulator.sts_endpoint, verify=str(emulator.ca_bundle))
    assert sts.get_caller_identity()["Account"] == emulator.account_id
