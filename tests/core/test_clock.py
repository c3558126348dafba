"""The fake clock: time moves only when told, waiters wake at their fake deadline or event."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from rasign.clock import SYSTEM, FakeClock


def test_advance_moves_both_clocks():
    start = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    clock = FakeClock(start)
    clock.advance(3600, settle=False)
    assert clock.monotonic() == 3600
    assert clock.now() == start + dt.timedelta(hours=1)


def test_waiter_wakes_at_its_fake_deadline_and_on_its_event():
    clock = FakeClock()
    event = threading.Event()
    woke = []

    def sleeper():
        woke.append(clock.wait(event, 100))
        woke.append(clock.wait(event, 1000))

    thread = threading.Thread(target=sleeper)
    thread.start()
    clock.settle()
    clock.advance(99)
    assert woke == []
    clock.advance(1, settle=False)
    clock.settle()  # back in its second wait
    assert woke == [False]
    event.set()
    thread.join(5)
    assert woke == [False, True]


def test_settle_times_out_when_nobody_waits():
    with pytest.raises(TimeoutError):
        FakeClock().settle(timeout=0.05)


def test_system_clock_is_aware_utc():
    assert SYSTEM.now().tzinfo is dt.timezone.utc
    assert SYSTEM.wait(threading.Event(), 0) is False
