"""configure writes a profile that boto3 and the AWS CLI use as is; it is idempotent and keeps every other byte."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import clean_env, run_rasign
from tests.identities.conftest import identity_table, write_private
from tests.support.sdk import aws_cli_caller

pytestmark = pytest.mark.network

EXISTING = "# my settings\n[default]\nregion = eu-west-1\n\n[profile other]\noutput = json   ; keep me\n"


@pytest.fixture
def configured(software_identity, emulator, tmp_path):
    cert, key = software_identity
    identities = write_private(
        tmp_path / "config.toml",
        identity_table("prod", cert, key, emulator) + identity_table("dev", cert, key, emulator, region="us-east-1"),
    )
    aws_config = tmp_path / "aws-config"
    aws_config.write_text(EXISTING)
    result = run_rasign(
        "configure", "--identity", "prod", env={"RASIGN_CONFIG": str(identities), "AWS_CONFIG_FILE": str(aws_config)}
    )
    assert result.returncode == 0, result.stderr
    return identities, aws_config


def test_configure_writes_a_short_profile_and_keeps_the_rest(configured):
    identities, aws_config = configured
    text = aws_config.read_text()
    assert text.startswith(EXISTING)
    assert "[profile prod]\n" in text
    line = next(item for item in text.splitlines() if item.startswith("credential_process = "))
    assert line.endswith(f"credential-process --identity prod --config {identities}")
    assert os.path.isabs(line.split(" = ", 1)[1].split()[0])
    assert "region = us-east-1" in text


def test_configure_is_idempotent(configured):
    identities, aws_config = configured
    before = aws_config.read_bytes()
    again = run_rasign(
        "configure", "--identity", "prod", env={"RASIGN_CONFIG": str(identities), "AWS_CONFIG_FILE": str(aws_config)}
    )
    assert again.returncode == 0, again.stderr
    assert aws_config.read_bytes() == before


def test_configure_all_and_print(configured):
    identities, aws_config = configured
    before = aws_config.read_bytes()
    printed = run_rasign(
        "configure", "--all", "--print", "--config", str(identities), env={"AWS_CONFIG_FILE": str(aws_config)}
    )
    assert printed.returncode == 0, printed.stderr
    assert "[profile prod]" in printed.stdout and "[profile dev]" in printed.stdout
    assert aws_config.read_bytes() == before  # --print writes nothing
    wrote = run_rasign("configure", "--all", "--config", str(identities), env={"AWS_CONFIG_FILE": str(aws_config)})
    assert wrote.returncode == 0, wrote.stderr
    assert "[profile dev]" in aws_config.read_text()


def test_boto3_uses_the_configured_profile(configured, emulator, monkeypatch):
    import boto3

    identities, aws_config = configured
    for name in list(os.environ):
        if name.startswith(("AWS_", "RASIGN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws_config.parent / "none"))
    monkeypatch.setenv("PYTHONPATH", clean_env()["PYTHONPATH"])
    sts = boto3.Session(profile_name="prod").client(
        "sts", endpoint_url=emulator.sts_endpoint, verify=str(emulator.ca_bundle)
    )
    assert sts.get_caller_identity()["Arn"].startswith(f"arn:aws:sts::{emulator.account_id}:assumed-role/")


@pytest.mark.awscli
def test_aws_cli_uses_the_configured_profile(configured, emulator):
    identities, aws_config = configured
    aws = shutil.which("aws", path=str(Path(sys.executable).parent))
    assert aws is not None, "the AWS CLI is part of the test extra"
    env = clean_env(
        {"AWS_CONFIG_FILE": str(aws_config), "AWS_SHARED_CREDENTIALS_FILE": str(aws_config.parent / "none")}
    )
    result = aws_cli_caller(aws, env, emulator, profile="prod")
    assert result.returncode == 0, result.stderr
    assert f"arn:aws:sts::{emulator.account_id}:assumed-role/" in result.stdout


def test_configure_needs_an_identity(tmp_path):
    result = run_rasign("configure", "--config", str(tmp_path / "none.toml"))
    assert result.returncode == 2 and "--identity NAME or --all" in result.stderr


def test_configure_all_refuses_one_profile_name(configured):
    identities, aws_config = configured
    before = aws_config.read_bytes()
    result = run_rasign(
        "configure", "--all", "--profile", "x", "--config", str(identities), "--config-file", str(aws_config)
    )
    assert result.returncode == 2 and "--all cannot be combined with --profile" in result.stderr
    assert aws_config.read_bytes() == before


def test_configure_region_from_the_identity_else_its_trust_anchor(software_identity, emulator, tmp_path):
    cert, key = software_identity
    identities = write_private(
        tmp_path / "partial.toml",
        f'[identity.bare]\ncertificate = "{cert}"\nprivate-key = "{key}"\n'
        f'[identity.anchored]\ncertificate = "{cert}"\ntrust-anchor-arn = "{emulator.trust_anchor_arn}"\n',
    )
    shown = {}
    for name in ("bare", "anchored"):
        result = run_rasign("configure", "--identity", name, "--print", "--config", str(identities))
        assert result.returncode == 0, result.stderr
        shown[name] = result.stdout
    assert "[profile bare]\ncredential_process = " in shown["bare"] and "\nregion = " not in shown["bare"]
    anchor_region = emulator.trust_anchor_arn.split(":")[3]
    assert f"\nregion = {anchor_region}\n" in shown["anchored"]
