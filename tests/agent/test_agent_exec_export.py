"""``exec`` and ``export`` ask the running agent as ``credential-process`` does (issue 13, clients)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rasign.agent.forward import credential_process_argv
from tests.conftest import REPO, clean_env, emulator_args, run_rasign

pytestmark = pytest.mark.network

URI = "pkcs11:token=rasign-a;object=ec-p256"


def test_the_agent_gets_only_the_flags_credential_process_takes():
    line = ["exec", "--server", "--identity", "prod", "--refresh-ahead", "5", "--debug", "--", "tool", "--agent"]
    assert credential_process_argv(line, "exec") == ["--identity", "prod"]
    line = ["export", "--format", "json", "--certificate=c.pem", "--private-key", "k.pem", "--agent"]
    assert credential_process_argv(line, "export") == ["--certificate=c.pem", "--private-key", "k.pem", "--agent"]
    # Anything the walk is not sure of is minted in-process rather than guessed at.
    assert credential_process_argv(["export", "--not-a-flag", "x"], "export") is None
    assert credential_process_argv(["--debug", "export"], "export") is None
    assert credential_process_argv(["export", "--private-key"], "export") is None


def test_export_and_exec_share_the_agents_credentials_with_credential_process(start_agent, emulator, pki):
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-export")
    flags = ("--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator))
    before = emulator.create_session_count
    cp = run_rasign("credential-process", *flags, env=agent.env)
    exported = run_rasign("export", "--format", "json", *flags, env=agent.env)
    child = "import json, os; print(json.dumps({k: os.environ[k] for k in ('AWS_ACCESS_KEY_ID', 'AWS_SESSION_TOKEN')}))"
    executed = run_rasign("exec", *flags, "--", sys.executable, "-c", child, env=agent.env)
    for done in (cp, exported, executed):
        assert done.returncode == 0, done.stderr
    key_id = json.loads(cp.stdout)["AccessKeyId"]
    assert json.loads(exported.stdout)["AWS_ACCESS_KEY_ID"] == key_id
    assert json.loads(executed.stdout)["AWS_ACCESS_KEY_ID"] == key_id
    assert emulator.create_session_count == before + 1  # one mint, in the agent, for all three
    assert [entry["mints"] for entry in json.loads(agent.ask("status", "--json").stdout)] == [1]


def test_no_agent_flag_and_a_missing_forced_agent(start_agent, emulator, pki, tmp_path):
    agent = start_agent()
    cert, key = pki.software_identity(stem="agent-export-off")
    flags = ("--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator))
    before = emulator.create_session_count
    own = run_rasign("export", "--no-agent", "--no-cache", *flags, env=agent.env)
    assert own.returncode == 0, own.stderr
    assert emulator.create_session_count == before + 1 and json.loads(agent.ask("status", "--json").stdout) == []
    nobody = {"RASIGN_AGENT_SOCK": str(tmp_path / "none" / "agent.sock")}
    forced = run_rasign("export", "--agent", *flags, env=nobody)
    assert forced.returncode == 13 and forced.stdout == "" and len(forced.stderr.splitlines()) == 1, forced.stderr
    assert "no agent at" in forced.stderr and "rasign agent --daemon" in forced.stderr
    both = run_rasign("exec", "--agent", "--no-agent", *flags, "--", "true", env=agent.env)
    assert both.returncode == 2 and "exclude each other" in both.stderr


def test_an_agent_error_keeps_its_class_and_exit_code(start_agent, emulator, pki):
    agent = start_agent()
    cert, _ = pki.software_identity(stem="agent-export-bad")
    other_key = pki.software_identity(stem="agent-export-other")[1]
    done = run_rasign(
        "export", "--agent", "--certificate", str(cert), "--private-key", str(other_key), *emulator_args(emulator),
        env=agent.env,
    )  # fmt: skip
    assert done.returncode == 4 and done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    # The agent met the error (it parsed the line and tried the key), not an in-process fallback.
    assert [entry["mints"] for entry in json.loads(agent.ask("status", "--json").stdout)] == [0]


REFRESHING_CHILD = (
    "import json, sys, urllib.request, os\n"
    "request = urllib.request.Request(os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI'],\n"
    "    headers={'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})\n"
    "print(json.load(urllib.request.urlopen(request, timeout=30))['AccessKeyId'])\n"
)


@pytest.mark.softhsm
def test_exec_server_with_the_agent_never_opens_the_key(start_agent, hsm, emulator):
    """The agent holds the token session: exec --server serves its child without a PIN of its own."""
    agent = start_agent()
    flags = ("--pkcs11-lib", hsm.module, "--certificate", URI, *emulator_args(emulator))
    with_pin = {**hsm.env, **agent.env, "RASIGN_PKCS11_PIN": hsm.pin("rasign-a")}
    first = run_rasign("credential-process", *flags, env=with_pin)
    assert first.returncode == 0, first.stderr
    # No PIN anywhere and no terminal: only the agent's open session can sign now.
    served = subprocess.run(
        [sys.executable, "-m", "rasign", "exec", "--server", *flags, "--", sys.executable, "-c", REFRESHING_CHILD],
        env=clean_env({**hsm.env, **agent.env, "PYTHONPATH": str(REPO)}),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip() == json.loads(first.stdout)["AccessKeyId"]
    alone = run_rasign("export", "--no-agent", "--no-cache", *flags, env={**hsm.env, **agent.env})
    assert alone.returncode == 6 and "PIN" in alone.stderr  # without the agent the same line needs a PIN
