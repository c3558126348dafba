"""The agent on swtpm: a password key's password typed once, the key loaded once, no handle left."""

from __future__ import annotations

import json

import pytest

from tests.conftest import emulator_args, run_rasign
from tests.pkcs11.test_prompt import run_with_terminal
from tests.tpm.conftest import openssl_ec_password, openssl_tpm2, tpm, tpm_dir  # noqa: F401

pytestmark = [pytest.mark.swtpm, pytest.mark.network]


def test_password_key_loaded_once_across_refreshes_and_flushed_at_stop(start_agent, tpm, openssl_ec_password, emulator):
    identity = openssl_ec_password
    agent = start_agent()
    env = {**agent.env, "RASIGN_CACHE_MARGIN": "100000"}  # every call mints anew on the open key
    args = [
        "credential-process",
        "--certificate",
        str(identity.cert),
        "--private-key",
        identity.key,
        "--tpm-tcti",
        tpm.tcti,
        *emulator_args(emulator),
    ]
    done, tty = run_with_terminal(args, [identity.password], env)
    assert done.returncode == 0, done.stderr + tty
    assert tty.count("TPM key password") == 1 and identity.password not in tty
    keys = {json.loads(done.stdout)["AccessKeyId"]}
    for _ in range(2):
        again = run_rasign(*args, env=env)
        assert again.returncode == 0, again.stderr
        keys.add(json.loads(again.stdout)["AccessKeyId"])
    assert len(keys) == 3
    status = json.loads(agent.ask("status", "--json").stdout)
    assert status[0]["mints"] == 3 and status[0]["signer_open"] is True
    assert identity.password not in json.dumps(status)
    stopped = agent.ask("stop")
    assert stopped.returncode == 0, stopped.stderr
    agent.process.wait(15)
    assert tpm.transient_handles() == [] and tpm.loaded_sessions() == []
