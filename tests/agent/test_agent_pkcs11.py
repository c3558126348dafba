"""The agent on SoftHSM2: the PIN is typed once per login session, counted with pkcs11-spy."""

from __future__ import annotations

import json

import pytest

from tests.conftest import emulator_args, run_rasign
from tests.pkcs11.test_prompt import run_with_terminal

pytestmark = [pytest.mark.softhsm, pytest.mark.network]

URI = "pkcs11:token=rasign-a;object=ec-p256"
ALWAYS = "pkcs11:token=rasign-a;object=ec-p256-always-auth"


def _logins(log) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.split(": ")[-1].strip() == "C_Login")


@pytest.fixture
def spy_env(hsm, tmp_path):
    if hsm.spy is None:
        pytest.skip("OpenSC's pkcs11-spy.so not found")
    log = tmp_path / "spy.log"
    return log, {**hsm.env, "PKCS11SPY": hsm.module, "PKCS11SPY_OUTPUT": str(log)}


def test_pin_typed_once_serves_many_mints_with_one_login(start_agent, hsm, emulator, spy_env):
    log, env = spy_env
    agent = start_agent()
    # RASIGN_CACHE_MARGIN beyond the credentials' lifetime: every call finds them expired and mints anew.
    env = {**env, **agent.env, "RASIGN_CACHE_MARGIN": "100000"}
    args = ["credential-process", "--pkcs11-lib", hsm.spy, "--certificate", URI, *emulator_args(emulator)]
    before = emulator.create_session_count
    done, tty = run_with_terminal(args, [hsm.pin("rasign-a")], env)
    assert done.returncode == 0, done.stderr + tty
    assert tty.count("enter the PIN") == 1 and hsm.pin("rasign-a") not in tty
    keys = {json.loads(done.stdout)["AccessKeyId"]}
    for _ in range(3):
        again = run_rasign(*args, env=env)
        assert again.returncode == 0, again.stderr
        keys.add(json.loads(again.stdout)["AccessKeyId"])
    assert len(keys) == 4 and emulator.create_session_count == before + 4  # four sessions minted...
    assert _logins(log) == 1  # ...on one login


def test_lock_forgets_the_pin_and_the_next_call_asks_again(start_agent, hsm, emulator, spy_env):
    log, env = spy_env
    agent = start_agent()
    env = {**env, **agent.env, "RASIGN_CACHE_MARGIN": "100000"}
    args = ["credential-process", "--pkcs11-lib", hsm.spy, "--certificate", URI, *emulator_args(emulator)]
    first, tty = run_with_terminal(args, [hsm.pin("rasign-a")], env)
    assert first.returncode == 0, first.stderr + tty
    locked = agent.ask("lock")
    assert locked.returncode == 0 and "locked 1 identity" in locked.stdout
    status = json.loads(agent.ask("status", "--json").stdout)
    assert status[0]["signer_open"] is False and status[0]["secrets_held"] == []
    without_terminal = run_rasign(*args, env=env)
    assert without_terminal.returncode == 6 and "PIN" in without_terminal.stderr
    second, tty = run_with_terminal(args, [hsm.pin("rasign-a")], env)
    assert second.returncode == 0, second.stderr + tty
    assert tty.count("enter the PIN") == 1
    assert _logins(log) == 2


def test_wrong_typed_pin_is_tried_once_and_then_forgotten(start_agent, hsm, emulator, spy_env):
    log, env = spy_env
    agent = start_agent()
    env = {**env, **agent.env}
    args = [
        "credential-process",
        "--pkcs11-lib",
        hsm.spy,
        "--certificate",
        "pkcs11:token=rasign-b;object=rsa-2048-b",
        *emulator_args(emulator),
    ]
    done, tty = run_with_terminal(args, ["0000"], env)
    assert done.returncode == 6, done.stderr + tty
    assert "CKR_PIN_INCORRECT" in done.stderr and "0000" not in done.stderr
    assert _logins(log) == 1
    status = json.loads(agent.ask("status", "--json").stdout)
    assert status[0]["secrets_held"] == []
    good, tty = run_with_terminal(args, [hsm.pin("rasign-b")], env)
    assert good.returncode == 0, good.stderr + tty


def test_always_authenticate_key_with_reuse_pin_needs_no_second_prompt(start_agent, hsm, emulator):
    agent = start_agent()
    env = {**hsm.env, **agent.env, "RASIGN_CACHE_MARGIN": "100000"}
    args = [
        "credential-process",
        "--pkcs11-lib",
        hsm.module,
        "--certificate",
        ALWAYS,
        "--reuse-pin",
        *emulator_args(emulator),
    ]
    done, tty = run_with_terminal(args, [hsm.pin("rasign-a")], env)
    assert done.returncode == 0, done.stderr + tty
    for _ in range(2):
        again = run_rasign(*args, env=env)
        assert again.returncode == 0, again.stderr


def test_token_removed_and_reinserted_is_found_again_without_a_new_prompt(start_agent, hsm, emulator, tmp_path):
    import shutil

    # A private copy of the tokens, so pulling them out cannot disturb other tests.
    private = tmp_path / "hsm"
    shutil.copytree(hsm.root / "tokens", private / "tokens")
    conf = private / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {private / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    agent = start_agent()
    env = {"SOFTHSM2_CONF": str(conf), **agent.env, "RASIGN_CACHE_MARGIN": "100000"}
    args = ["credential-process", "--pkcs11-lib", hsm.module, "--certificate", URI, *emulator_args(emulator)]
    first, tty = run_with_terminal(args, [hsm.pin("rasign-a")], env)
    assert first.returncode == 0, first.stderr + tty
    pulled = tmp_path / "pulled"
    shutil.move(str(private / "tokens"), pulled)  # the token is pulled out
    gone = run_rasign(*args, env=env)
    assert gone.returncode == 8 and "no longer present" in gone.stderr and gone.stderr.count("\n") == 1
    shutil.move(str(pulled), private / "tokens")  # and put back
    back = run_rasign(*args, env=env)  # no terminal: it must not need the PIN typed again
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["AccessKeyId"] != json.loads(first.stdout)["AccessKeyId"]
