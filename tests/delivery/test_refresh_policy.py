"""The refresh policy and state machine on their own (a plain function stands in for
CreateSession here; the end-to-end behaviour is tested against the emulator elsewhere)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import pytest

from rasign.clock import FakeClock
from rasign.errors import AccessDenied, NetworkError, Throttled
from rasign.refresh import Refresher, RefreshPolicy

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass
class Creds:
    access_key_id: str
    secret_access_key: str = "s"
    session_token: str = "t"
    expires_at: dt.datetime = EPOCH

    @property
    def expiration(self) -> str:
        return self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def creds(name: str, lifetime: float, clock: FakeClock | None = None) -> Creds:
    now = clock.now() if clock else dt.datetime.now(dt.timezone.utc)
    return Creds(name, expires_at=now + dt.timedelta(seconds=lifetime))


def test_automatic_refresh_ahead_is_botocore_advisory_window_capped_at_half_life():
    policy = RefreshPolicy()
    assert policy.ahead_seconds(3600) == 900
    assert policy.ahead_seconds(900) == 450
    assert RefreshPolicy(refresh_ahead=60).ahead_seconds(3600) == 60


def test_next_refresh_never_sooner_than_the_minimum_interval():
    policy = RefreshPolicy(min_interval=10)
    now = dt.datetime.now(dt.timezone.utc)
    assert policy.next_refresh_delay(creds("a", 3600), now, now) == pytest.approx(2700, abs=2)
    assert policy.next_refresh_delay(creds("a", 5), now, now) == 10  # would be a hot loop otherwise


def test_backoff_grows_is_capped_jittered_and_longer_after_throttling():
    policy = RefreshPolicy(min_interval=0, backoff_initial=2, backoff_max=60)
    rng = random.Random(7)
    delays = [policy.backoff(n, rng=rng) for n in range(1, 10)]
    assert all(1 <= d <= 60 for d in delays)
    assert delays[0] <= 2 and delays[-1] >= 30
    assert policy.backoff(1, throttled=True, rng=random.Random(1)) >= 4  # two extra doublings
    assert RefreshPolicy(min_interval=10).backoff(1) == 10


def test_start_fails_fast_and_permanent_errors_always_stop_start():
    def down():
        raise NetworkError("request send failed")

    with pytest.raises(NetworkError):
        Refresher(down).start(fail_fast=True)

    def denied():
        raise AccessDenied("no")

    with pytest.raises(AccessDenied):
        Refresher(denied).start(fail_fast=False)


def test_transient_first_failure_is_retried_in_the_background():
    clock = FakeClock()
    calls = []

    def flaky():
        calls.append(clock.monotonic())
        if len(calls) < 3:
            raise Throttled("slow down")
        return creds("good", 3600, clock)

    refresher = Refresher(flaky, RefreshPolicy(min_interval=1, backoff_initial=2, backoff_max=8), clock=clock)
    refresher.start(fail_fast=False)
    try:
        clock.settle()
        assert refresher.current() is None and refresher.status().state == "expired"
        clock.advance(60, step=0.5)
        assert refresher.current().access_key_id == "good"
        assert refresher.status().state == "fresh" and refresher.status().consecutive_failures == 0
        # throttling doubles the backoff twice more: the retries were spaced by at least 2 s
        assert len(calls) == 3 and all(b - a >= 2 for a, b in zip(calls, calls[1:], strict=False))
    finally:
        refresher.stop()


def test_failed_refresh_keeps_last_good_until_expiry_then_reports_nothing():
    clock = FakeClock()
    results = [creds("first", 70, clock)]

    def fetch():
        if results:
            return results.pop()
        raise NetworkError("down")

    refresher = Refresher(
        fetch,
        RefreshPolicy(refresh_ahead=60, min_interval=0.5, backoff_initial=0.5, backoff_max=1, expiry_skew=10),
        clock=clock,
    )
    refresher.start()
    try:
        clock.advance(15, step=0.25)  # refresh due after 10 s; it fails repeatedly
        assert refresher.current().access_key_id == "first"
        status = refresher.status()
        assert status.state == "refreshing-failed" and status.consecutive_failures >= 2
        assert "down" in status.last_error
        clock.advance(50, step=0.5)  # 65 s in: expired (minus the 10 s skew), nothing is offered instead
        assert refresher.current() is None
        assert refresher.status().state == "expired"
        assert refresher.last_credentials.access_key_id == "first"
    finally:
        refresher.stop()


def test_refresh_happens_ahead_of_expiry_on_the_fake_clock():
    clock = FakeClock()
    minted = []

    def fetch():
        minted.append(clock.monotonic())
        return creds(f"gen{len(minted)}", 3600, clock)

    refresher = Refresher(fetch, RefreshPolicy(), clock=clock)
    refresher.start()
    try:
        clock.advance(2699, step=30)
        assert len(minted) == 1  # automatic window: 15 minutes before a one-hour expiry
        clock.advance(2, step=1)
        assert len(minted) == 2 and 2699 <= minted[1] <= 2701
        assert refresher.current().access_key_id == "gen2"
    finally:
        refresher.stop()


def test_refresh_soon_wakes_the_thread_at_once():
    clock = FakeClock()
    minted = []
    refresher = Refresher(
        lambda: minted.append(1) or creds("x", 3600, clock), RefreshPolicy(min_interval=5), clock=clock
    )
    refresher.start()
    try:
        clock.advance(5)
        refresher.refresh_soon()
        clock.settle()
        assert len(minted) == 2
    finally:
        refresher.stop()


def test_a_failing_consumer_counts_as_a_failed_refresh():
    def broken_writer(_):
        raise OSError("disk full")

    refresher = Refresher(lambda: creds("x", 3600), on_update=broken_writer)
    with pytest.raises(Exception, match="disk full"):
        refresher.start()
    assert refresher.current() is None


def test_refresh_settings_are_checked_once_for_every_command():
    from rasign.errors import ConfigError, UsageError
    from rasign.refresh import RefreshSettings, refresh_settings

    assert refresh_settings() == RefreshSettings(None, 10.0, 120.0)
    settings = refresh_settings("60", "30", "5")
    assert settings == RefreshSettings(60.0, 30.0, 5.0)
    policy = settings.policy()
    assert (policy.refresh_ahead, policy.min_interval, policy.backoff_max) == (60.0, 30.0, 30.0)  # backoff >= interval
    with pytest.raises(UsageError, match=r"^--min-refresh-interval must be >= 0 and --max-backoff > 0$"):
        refresh_settings(max_backoff=0)
    with pytest.raises(ConfigError, match=r"^--refresh-ahead: interval '-5' must be 0 or more seconds"):
        refresh_settings(refresh_ahead=-5)
    with pytest.raises(ConfigError, match=r"^--min-refresh-interval: interval 'inf' is not a finite number"):
        refresh_settings(min_refresh_interval=float("inf"))
    with pytest.raises(ConfigError, match=r"^--max-backoff: interval '1000000000.0' is more than 86400 seconds"):
        refresh_settings(max_backoff=1e9)


@pytest.mark.parametrize("command", ["serve", "update"])
def test_serve_and_update_refuse_a_zero_max_backoff_alike(command, tmp_path):
    """update used to clamp --max-backoff 0 to 1 s where serve refused it; both refuse it now, before any key."""
    from tests.conftest import run_rasign

    args = ["--once", "--credentials-file", str(tmp_path / "c")] if command == "update" else ["--port", "0"]
    result = run_rasign(
        command,
        *args,
        "--certificate",
        str(tmp_path / "missing.pem"),
        "--private-key",
        str(tmp_path / "missing.key"),
        "--trust-anchor-arn",
        "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/a",
        "--profile-arn",
        "arn:aws:rolesanywhere:us-east-1:123456789012:profile/p",
        "--role-arn",
        "arn:aws:iam::123456789012:role/r",
        "--max-backoff",
        "0",
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == "rasign: error: --min-refresh-interval must be >= 0 and --max-backoff > 0\n"
