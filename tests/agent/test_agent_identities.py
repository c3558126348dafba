"""The agent serves named identities; a chained identity is left to the client's own path."""

from __future__ import annotations

import json

import pytest

from rasign.emulator.assume_role import add_trusted_role
from tests.conftest import run_rasign
from tests.identities.conftest import identity_table, write_private
from tests.identities.test_chaining import OTHER_ACCOUNT, caller_identity

pytestmark = pytest.mark.network


def test_named_identity_is_served_from_memory(start_agent, emulator, pki, tmp_path):
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-identity")
    config = write_private(tmp_path / "config.toml", identity_table("dev", cert, key, emulator))
    before = emulator.create_session_count
    first = run_rasign("credential-process", "--identity", "dev", "--config", str(config), env=agent.env)
    second = run_rasign("credential-process", "--identity", "dev", "--config", str(config), env=agent.env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout and emulator.create_session_count == before + 1
    assert json.loads(agent.ask("status", "--json").stdout)[0]["mints"] == 1


def test_chained_identity_falls_back_to_the_client_and_is_never_served_unchained(start_agent, emulator, pki, tmp_path):
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-chain")
    target = add_trusted_role(emulator.state, "agent-deploy", account_id=OTHER_ACCOUNT, trusted=[emulator.role_arn])
    text = identity_table("prod", cert, key, emulator, sts_endpoint=emulator.sts_endpoint)
    config = write_private(tmp_path / "config.toml", text + f'\n[[identity.prod.chain]]\nrole-arn = "{target}"\n')
    done = run_rasign("credential-process", "--identity", "prod", "--no-cache", "--config", str(config), env=agent.env)
    assert done.returncode == 0, done.stderr
    assert caller_identity(json.loads(done.stdout), emulator)["Account"] == OTHER_ACCOUNT  # the chained role
    assert json.loads(agent.ask("status", "--json").stdout) == []  # the agent kept nothing for it
    forced = run_rasign("credential-process", "--agent", "--identity", "prod", "--config", str(config), env=agent.env)
    assert forced.returncode == 13 and "does not chain roles yet" in forced.stderr and forced.stdout == ""
