"""The agent serves named identities, chained ones included (it runs the chain itself)."""

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


def test_chained_identity_is_minted_and_refreshed_by_the_agent(start_agent, emulator, pki, tmp_path):
    """The agent runs the chain itself: the client gets the last role, and a repeat is served from memory."""
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-chain")
    target = add_trusted_role(emulator.state, "agent-deploy", account_id=OTHER_ACCOUNT, trusted=[emulator.role_arn])
    text = identity_table("prod", cert, key, emulator, sts_endpoint=emulator.sts_endpoint)
    config = write_private(tmp_path / "config.toml", text + f'\n[[identity.prod.chain]]\nrole-arn = "{target}"\n')
    plain = write_private(tmp_path / "plain.toml", identity_table("prod", cert, key, emulator))
    before = emulator.create_session_count
    argv = ("credential-process", "--agent", "--identity", "prod", "--config", str(config))
    first = run_rasign(*argv, env=agent.env)
    again = run_rasign(*argv, env=agent.env)
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert caller_identity(json.loads(first.stdout), emulator)["Account"] == OTHER_ACCOUNT  # the chained role
    assert again.stdout == first.stdout and emulator.create_session_count == before + 1
    unchained = run_rasign("credential-process", "--agent", "--identity", "prod", "--config", str(plain), env=agent.env)
    assert unchained.returncode == 0, unchained.stderr
    # The first role alone is another identity: never the chained role's credentials.
    assert caller_identity(json.loads(unchained.stdout), emulator)["Account"] != OTHER_ACCOUNT
    status = json.loads(agent.ask("status", "--json").stdout)
    assert sorted(item["mints"] for item in status) == [1, 1]
    chained = [item for item in status if item["identity"].startswith(target)]
    assert len(chained) == 1 and f"chained from {emulator.role_arn}" in chained[0]["identity"]


def test_relative_config_paths_are_the_clients_not_the_agents(start_agent, emulator, pki, tmp_path):
    """``--config config.toml`` and ``RASIGN_CONFIG=...`` are read in the client's directory."""
    import subprocess
    import sys

    from tests.conftest import clean_env

    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-relative-config")
    where = tmp_path / "project"
    where.mkdir()
    write_private(where / "config.toml", identity_table("dev", cert, key, emulator))

    def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "rasign", "credential-process", "--agent", *args],
            env=clean_env({**agent.env, **env}),
            cwd=where,
            capture_output=True,
            text=True,
            timeout=60,
        )

    by_flag = run("--identity", "dev", "--config", "config.toml", env={})
    by_env = run("--identity", "dev", env={"RASIGN_CONFIG": "config.toml"})
    for done in (by_flag, by_env):
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["AccessKeyId"]
