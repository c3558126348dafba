"""The stop/hangup helper every long-running command uses (rasign.lifecycle)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from rasign.clock import FakeClock
from rasign.lifecycle import Lifecycle


def test_real_signals_stop_and_hang_up_while_installed_and_old_handlers_come_back():
    lifecycle = Lifecycle()
    hangups: list[str] = []
    lifecycle.on_hangup(lambda: hangups.append("refresh"))
    before = signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGTERM)
    with lifecycle.signals():
        os.kill(os.getpid(), signal.SIGHUP)  # handlers run in the main thread, before the next bytecode
        assert hangups == ["refresh"] and not lifecycle.stopping
        os.kill(os.getpid(), signal.SIGTERM)
        assert lifecycle.stopping
    assert (signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGTERM)) == before


def test_off_the_main_thread_no_handler_is_installed():
    lifecycle = Lifecycle()
    seen: list[object] = []

    def body() -> None:
        with lifecycle.signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    assert seen == [before]


def test_run_until_stopped_checks_on_the_clock_and_returns_on_stop():
    clock = FakeClock()
    lifecycle = Lifecycle(clock)
    checks: list[float] = []
    thread = threading.Thread(target=lifecycle.run_until_stopped, args=(lambda: checks.append(clock.monotonic()),))
    thread.start()
    clock.settle()
    clock.advance(3.5, step=0.5)
    assert checks == [1.0, 2.0, 3.0]  # once per second of the lifecycle's clock, none early
    lifecycle.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_a_failing_check_ends_the_run_with_its_error():
    clock = FakeClock()
    lifecycle = Lifecycle(clock)
    errors: list[BaseException] = []

    def broken() -> None:
        raise RuntimeError("the event loop died")

    def run() -> None:
        try:
            lifecycle.run_until_stopped(broken)
        except RuntimeError as err:
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    clock.settle()
    clock.advance(1.0, settle=False)
    thread.join(10)
    assert [str(err) for err in errors] == ["the event loop died"]


@pytest.mark.parametrize("every", [0.25, 2.0])
def test_stop_from_another_thread_ends_the_wait_at_once(every):
    lifecycle = Lifecycle(FakeClock())  # the fake clock never moves: only stop() can end the run
    thread = threading.Thread(target=lifecycle.run_until_stopped, kwargs={"every": every})
    thread.start()
    lifecycle.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_stop_actions_run_on_a_stop_signal_and_on_stop_in_order():
    lifecycle = Lifecycle(hangup_does="locking")
    woken: list[str] = []
    lifecycle.on_stop(lambda: woken.append("flag"))
    lifecycle.on_stop(lambda: woken.append("wake the loop"))
    with lifecycle.signals():
        os.kill(os.getpid(), signal.SIGINT)
    assert lifecycle.stopping and woken == ["flag", "wake the loop"]
    lifecycle.stop()  # from code too (a stop request over the agent's socket)
    assert woken == ["flag", "wake the loop"] * 2
