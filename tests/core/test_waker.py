"""The shared pieces of the two selector loops (serve's endpoint and the agent)."""

from __future__ import annotations

import pytest

from rasign.waker import Refusals, StoppableLoop


def test_refusals_are_all_counted_but_logged_once_per_interval():
    refusals = Refusals(every=60.0)
    assert [refusals.note(t) for t in (0.0, 1.0, 59.9, 60.0, 61.0, 200.0)] == [True, False, False, True, False, True]
    assert refusals.count == 6


def test_a_loop_without_poll_cannot_be_built():
    class Forgetful(StoppableLoop):
        pass

    with pytest.raises(TypeError):
        Forgetful()  # type: ignore[abstract]
