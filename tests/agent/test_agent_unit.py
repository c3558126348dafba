"""The agent's bookkeeping on its own, with a fake clock: PIN time-to-live, lock, malformed requests."""

from __future__ import annotations

from rasign.agent.server import Agent, Entry
from rasign.clock import FakeClock
from rasign.options import SessionOptions, SignerOptions
from rasign.secrets import secret_from_env


class _Minter:
    def __init__(self) -> None:
        self.closed = 0
        self._signer = object()

    def close(self) -> None:
        self.closed += 1
        self._signer = None


def _entry() -> Entry:
    options = SignerOptions(certificate="pkcs11:token=t", interactive=False)
    return Entry(
        "test",
        options,
        SessionOptions(),
        None,
        _Minter(),
        {"pkcs11_pin_env": None, "pkcs11_context_pin_env": None, "tpm_key_password": None, "pkcs8_password": None},
    )


def test_typed_pin_is_forgotten_after_its_time_to_live():
    clock = FakeClock()
    agent = Agent(clock=clock, pin_ttl=60)
    entry = _entry()
    agent._hold(entry, "PIN", "123456")
    name = entry.held["PIN"]
    assert entry.signer_options.pkcs11_pin_env == name and secret_from_env(name) == "123456"
    clock.advance(59, settle=False)
    agent._expire_secrets(entry)
    assert entry.held and entry.minter.closed == 0
    clock.advance(1, settle=False)
    agent._expire_secrets(entry)
    assert entry.held == {} and secret_from_env(name) is None
    assert entry.signer_options.pkcs11_pin_env is None and entry.minter.closed == 1


def test_lock_forgets_every_secret_and_closes_every_signer():
    agent = Agent(clock=FakeClock())
    first, second = _entry(), _entry()
    agent.entries = {"a": first, "b": second}
    agent._hold(first, "PIN", "1111")
    agent._hold(second, "TPM key password", "pw")
    assert agent.lock() == 2
    assert first.held == {} and second.held == {} and second.signer_options.tpm_key_password is None
    assert first.minter.closed == 1 and second.minter.closed == 1


def test_malformed_requests_get_a_usage_error_not_a_crash():
    agent = Agent(clock=FakeClock())
    for message in (
        {"op": "credentials"},
        {"op": "credentials", "argv": "x", "cwd": "/", "env": {}},
        {"op": "credentials", "argv": [], "cwd": "/", "env": {"A": 1}},
        {"op": "nope"},
        {},
    ):
        answer = agent.handle(message, lambda line: None)
        assert answer["ok"] is False and answer["error"]["exit_code"] == 2


def test_pins_held_for_two_identities_from_two_workers_never_share_a_name():
    import threading

    agent = Agent(clock=FakeClock())
    entries = [_entry() for _ in range(8)]
    threads = [threading.Thread(target=agent._hold, args=(entry, "PIN", f"pin-{i}")) for i, entry in enumerate(entries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = [entry.held["PIN"] for entry in entries]
    assert len(set(names)) == len(names)
    assert [secret_from_env(name) for name in names] == [f"pin-{i}" for i in range(len(entries))]
    agent.lock()


def test_a_new_identity_is_planned_once_in_the_client_environment(emulator, pki, monkeypatch, tmp_path):
    import json

    import rasign.session
    from tests.conftest import emulator_args

    planned: list[str] = []
    real = rasign.session.plan_session

    def counting(options):
        planned.append(options.role_arn)
        return real(options)

    monkeypatch.setattr(rasign.session, "plan_session", counting)
    cert, key = pki.software_identity(stem="agent-planned-once")
    argv = ["--certificate", str(cert), "--private-key", str(key), *emulator_args(emulator)]
    agent = Agent(clock=FakeClock())
    try:
        answer = agent.handle({"op": "credentials", "argv": argv, "cwd": str(tmp_path), "env": {}}, lambda line: None)
        assert answer["ok"] is True, answer
        assert json.loads(answer["output"])["Version"] == 1
        assert planned == [emulator.role_arn]  # parsing planned it; the minter took that plan
    finally:
        agent.close()
