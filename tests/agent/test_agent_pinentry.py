"""The agent asks for a SoftHSM PIN through RASIGN_PINENTRY once, then serves from memory.

credential-process runs with no terminal (as under an IDE); the client, not the agent, runs
the real pinentry-tty, which asks on the pty GPG_TTY names. pkcs11-spy counts the logins.
"""

from __future__ import annotations

import json

import pytest

from tests.agent.test_agent_pkcs11 import URI, _logins, spy_env  # noqa: F401 - a fixture
from tests.conftest import emulator_args, run_rasign
from tests.support.pinentry_tty import Typist

pytestmark = [pytest.mark.softhsm, pytest.mark.network]

TOKEN_B = "pkcs11:token=rasign-b;object=rsa-2048-b"  # the token the wrong-PIN tests use


def test_pin_asked_once_through_pinentry_then_served_from_memory(start_agent, hsm, emulator, spy_env):  # noqa: F811
    log, env = spy_env
    agent = start_agent()
    # RASIGN_CACHE_MARGIN beyond the credentials' lifetime: every call mints anew on the one login.
    env = {**env, **agent.env, "RASIGN_CACHE_MARGIN": "100000"}
    args = ["credential-process", "--pkcs11-lib", hsm.spy, "--certificate", URI, *emulator_args(emulator)]
    pin = hsm.pin("rasign-a")
    with Typist([pin.encode() + b"\n"]) as typist:
        first = run_rasign(*args, env={**env, **typist.env})
        assert first.returncode == 0, first.stderr
        again = [run_rasign(*args, env={**env, **typist.env}) for _ in range(2)]
    assert all(done.returncode == 0 for done in again), [done.stderr for done in again]
    assert typist.prompts == 1 and "PIN" in typist.text() and pin not in typist.text()
    keys = {json.loads(done.stdout)["AccessKeyId"] for done in (first, *again)}
    assert len(keys) == 3 and _logins(log) == 1
    assert pin not in agent.log.read_text()
    # The same identity asked from a shell without pinentry and without a terminal: the same agent
    # entry (RASIGN_PINENTRY is not part of the request), so the PIN typed above serves it.
    plain = run_rasign(*args, env=env)
    assert plain.returncode == 0, plain.stderr
    assert _logins(log) == 1


def test_cancel_in_pinentry_through_the_agent_holds_nothing_and_asks_again(start_agent, hsm, emulator):
    agent = start_agent()
    env = {**hsm.env, **agent.env}
    args = ["credential-process", "--pkcs11-lib", hsm.module, "--certificate", URI, *emulator_args(emulator)]
    with Typist([b"\x04", hsm.pin("rasign-a").encode() + b"\n"]) as typist:
        cancelled = run_rasign(*args, env={**env, **typist.env})
        assert cancelled.returncode == 6, cancelled.stderr
        assert "PIN prompt was cancelled" in cancelled.stderr and cancelled.stderr.count("\n") == 1
        assert json.loads(agent.ask("status", "--json").stdout)[0]["secrets_held"] == []
        second = run_rasign(*args, env={**env, **typist.env})
    assert second.returncode == 0, second.stderr
    assert typist.prompts == 2  # the cancel was never retried by itself; the next run asked anew


def test_missing_pinentry_is_reported_when_a_pin_is_needed_and_nothing_is_tried(
    start_agent,
    hsm,
    emulator,
    spy_env,  # noqa: F811
):
    """Credentials the agent holds are still handed out; a PIN it lacks fails in one line, no login tried."""
    log, env = spy_env
    agent = start_agent()
    env = {**env, **agent.env, "RASIGN_CACHE_MARGIN": "100000"}  # every call mints
    args = ["credential-process", "--pkcs11-lib", hsm.spy, "--certificate", URI, *emulator_args(emulator)]
    first = run_rasign(*args, env={**env, "RASIGN_PKCS11_PIN": hsm.pin("rasign-a")})
    assert first.returncode == 0, first.stderr
    broken = {**env, "RASIGN_PINENTRY": "pinentry-nowhere-to-be-found"}
    held = run_rasign(*args, env=broken)
    assert held.returncode == 0 and held.stdout != first.stdout, held.stderr  # minted on the open session
    assert agent.ask("lock").returncode == 0
    logins = _logins(log)
    done = run_rasign(*args, env=broken)
    assert done.returncode == 3, done.stderr
    assert "RASIGN_PINENTRY=pinentry-nowhere-to-be-found is not a program on PATH" in done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert _logins(log) == logins  # no PIN was tried
    assert json.loads(agent.ask("status", "--json").stdout)[0]["secrets_held"] == []


def test_without_an_agent_a_wrong_pin_from_pinentry_is_tried_once(hsm, emulator, spy_env):  # noqa: F811
    log, env = spy_env
    args = [
        "credential-process",
        "--no-agent",
        "--pkcs11-lib",
        hsm.spy,
        "--certificate",
        TOKEN_B,
        *emulator_args(emulator),
    ]
    with Typist([b"0000\n", b"0000\n"]) as typist:
        done = run_rasign(*args, env={**env, **typist.env})
    assert done.returncode == 6, done.stderr
    assert "CKR_PIN_INCORRECT" in done.stderr and "0000" not in done.stderr and done.stderr.count("\n") == 1
    assert typist.prompts == 1 and _logins(log) == 1  # in-process, one prompt, one C_Login, no retry
