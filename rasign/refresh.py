"""Refresh policy shared by every long-running credential consumer (serve, update, the API).

The Go helper refreshed synchronously inside the HTTP handler, swallowed the first
failure, and on a refresh error replaced good credentials with empty ones that it still
served as ``Success``. Everything here exists to make those failure modes impossible:

* :class:`SessionMinter` turns options into fresh credentials. It keeps a hardware signer
  (PKCS#11 session, TPM context) open across refreshes, so a PIN is asked once, but
  re-opens file-backed signers every time so rotated certificate/key files are picked up.
* :class:`RefreshPolicy` decides *when*: ahead of expiry, never more often than a minimum
  interval, and with exponential backoff plus jitter after failures.
* :class:`Refresher` runs that policy on a background thread and always holds the last
  good credentials; readers never wait on the network and never see a half-updated value.
  Once the last good credentials have expired, :meth:`Refresher.current` returns None and
  callers answer with an error instead of inventing credentials.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rasign.clock import SYSTEM, Clock
from rasign.errors import (
    BackendUnavailable,
    ConfigError,
    RasignError,
    SigningError,
    Throttled,
    UsageError,
)
from rasign.options import IGNORE, option

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is 3.11+; only type checkers read this

    from rasign.options import SessionOptions, SignerOptions
    from rasign.session import PlannedSession
    from rasign.signer import Signer

log = logging.getLogger("rasign.refresh")


class CredentialsLike(Protocol):
    """What the refresh machinery needs from :class:`rasign.session.Credentials`."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: str

    @property
    def expires_at(self) -> _dt.datetime: ...


def utcnow() -> _dt.datetime:
    """The current time as an aware UTC datetime, from the system clock."""
    return SYSTEM.now()


def seconds_left(credentials: CredentialsLike, now: _dt.datetime | None = None) -> float:
    """Seconds until ``credentials`` expire (negative once expired)."""
    return (credentials.expires_at - (now or utcnow())).total_seconds()


# --------------------------------------------------------------------------- minting


class SessionMinter:
    """Mint credentials from options, owning the signer's lifetime.

    Thread-safe: PKCS#11 sessions and TPM contexts must not sign concurrently, so every
    call is serialised. Inputs are validated the same way as ``credential-process``
    (:mod:`rasign.workflow`), so the CLI commands and the Python API fail alike.
    """

    def __init__(
        self,
        signer_options: SignerOptions,
        session_options: SessionOptions | PlannedSession,
        *,
        reopen_each_time: bool | None = None,
        wrap_signer: Callable[[Signer], Signer] | None = None,
    ) -> None:
        from rasign.session import ensure_planned

        self.planned = ensure_planned(session_options)  # ARNs, region, duration, endpoint: fail before any PIN
        self.signer_options = signer_options
        self.session_options = self.planned.options
        if reopen_each_time is None:
            from rasign.registry import choose_backend, load_backend

            backend = signer_options.backend or choose_backend(signer_options)
            reopen_each_time = load_backend(backend).reopen_each_refresh
        self.reopen_each_time = reopen_each_time
        self._wrap = wrap_signer
        """Applied to every signer opened (the agent's touch notices wrap it)."""
        self._lock = threading.Lock()
        self._signer: Signer | None = None
        self._client: Any = None

    @property
    def is_open(self) -> bool:
        """Whether a signer is held open between mints (a logged-in token, a loaded TPM key)."""
        return self._signer is not None

    def open(self) -> None:
        """Open the signer now, in the foreground, where a PIN prompt can reach a terminal.

        File-backed signers are opened and closed once, only to report broken files at start.
        """
        from rasign.workflow import open_signer_checked

        with self._lock:
            if self.reopen_each_time:
                open_signer_checked(self.signer_options).close()
            elif self._signer is None:
                self._open_locked()

    def mint(self) -> Any:
        """Run one CreateSession and return :class:`rasign.session.Credentials`."""
        from rasign.session import SessionClient
        from rasign.workflow import open_signer_checked

        with self._lock:
            if self.reopen_each_time:
                with open_signer_checked(self.signer_options) as opened:
                    signer = self._wrap(opened) if self._wrap else opened
                    client = SessionClient(signer, self.planned)
                    try:
                        return client.create_session()
                    finally:
                        client.close()
            if self._client is None:
                self._open_locked()
            try:
                return self._client.create_session()
            except (SigningError, BackendUnavailable):
                # The token may have been removed or the TPM reset: start afresh next time.
                self._close_locked()
                raise

    def close(self) -> None:
        """Release the signer (logs out of PKCS#11 tokens, flushes TPM handles)."""
        with self._lock:
            self._close_locked()

    def _open_locked(self) -> None:
        from rasign.session import SessionClient
        from rasign.workflow import open_signer_checked

        opened = open_signer_checked(self.signer_options)
        self._signer = self._wrap(opened) if self._wrap else opened
        self._client = SessionClient(self._signer, self.planned)

    def _close_locked(self) -> None:
        signer, client = self._signer, self._client
        self._signer, self._client = None, None
        for closable in (client, signer):
            if closable is None:
                continue
            try:
                closable.close()
            except Exception:
                log.debug("closing %s failed", type(closable).__name__, exc_info=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


_ENV_SECRETS = (
    ("pkcs8_password", "RASIGN_PKCS8_PASSWORD"),
    ("tpm_key_password", "RASIGN_TPM_KEY_PASSWORD"),
    ("tpm_parent_password", "RASIGN_TPM_PARENT_PASSWORD"),
)
"""Passwords a file or TPM backend would re-read from the environment on every refresh."""


def capture_environment_secrets(options: SignerOptions) -> SignerOptions:
    """Copy password variables the backends would re-read on every refresh into the options.

    :func:`rasign.hardening.harden_process` removes them from the environment once the key
    is open; a file-backed signer re-opens its key for each CreateSession and would then
    find no password an hour later. ``serve`` and ``update`` call this before hardening.
    """
    import dataclasses
    import os

    changes: dict[str, Any] = {}
    for name, variable in _ENV_SECRETS:
        value = os.environ.get(variable)
        if not value or getattr(options, name, None) is not None:
            continue
        if name == "tpm_key_password" and getattr(options, "no_tpm_key_password", False):
            continue
        changes[name] = value
    return dataclasses.replace(options, **changes) if changes else options


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class RefreshPolicy:
    """When to refresh and how to back off.

    ``refresh_ahead`` None means automatic: 15 minutes before expiry (botocore's advisory
    window, so SDKs reading our credentials never find them "about to expire"), but never
    later than half-way through the credentials' lifetime.
    """

    refresh_ahead: float | None = None
    min_interval: float = 10.0
    backoff_initial: float = 2.0
    backoff_max: float = 120.0
    throttle_penalty: int = 2
    """Extra doublings of the backoff after a throttling answer."""
    expiry_skew: float = 5.0
    """Credentials this close to expiry count as expired (clock skew between hosts)."""

    def ahead_seconds(self, lifetime: float) -> float:
        """How long before expiry to refresh credentials that live ``lifetime`` seconds."""
        if self.refresh_ahead is not None:
            return self.refresh_ahead
        return min(900.0, max(lifetime, 0.0) / 2)

    def next_refresh_delay(self, credentials: CredentialsLike, obtained_at: _dt.datetime, now: _dt.datetime) -> float:
        """Seconds from ``now`` until the next planned refresh after a success."""
        lifetime = (credentials.expires_at - obtained_at).total_seconds()
        due = (credentials.expires_at - now).total_seconds() - self.ahead_seconds(lifetime)
        return max(due, self.min_interval)

    def backoff(self, failures: int, *, throttled: bool = False, rng: random.Random | None = None) -> float:
        """Delay before retry number ``failures`` (1-based): exponential, capped, jittered.

        "Equal jitter": half the delay is fixed, half random, so many hosts that failed
        together do not retry together, and the delay never collapses to zero.
        """
        exponent = max(failures - 1, 0) + (self.throttle_penalty if throttled else 0)
        base = min(self.backoff_max, self.backoff_initial * (2.0 ** min(exponent, 30)))
        rand = rng.random() if rng is not None else random.random()
        return max(self.min_interval, base / 2 + rand * base / 2)


@dataclass(frozen=True)
class RefreshSettings:
    """The refresh tuning a user gives ``serve``, ``update``, ``exec`` or the Python API.

    Built and checked only by :func:`refresh_settings`, so the commands cannot disagree
    about what is valid (one used to raise where another clamped).
    """

    # Each field declares its flag too (rasign.options.option): serve's and update's "refresh"
    # group is generated from these fields, so a new setting is one field here.
    refresh_ahead: float | None = option(
        None,
        cache=IGNORE,
        flag="--refresh-ahead",
        help="refresh this long before expiry (default: 15 min, at most half the lifetime)",
        group="refresh",
        metavar="SECONDS",
        check="interval",
    )
    """Seconds before expiry to refresh; None = automatic (see :class:`RefreshPolicy`)."""
    min_refresh_interval: float = option(
        10.0,
        cache=IGNORE,
        flag="--min-refresh-interval",
        help="never call CreateSession more often than this (default 10)",
        group="refresh",
        metavar="SECONDS",
        check="interval",
    )
    max_backoff: float = option(
        120.0,
        cache=IGNORE,
        flag="--max-backoff",
        help="longest wait between retries after failures (default 120)",
        group="refresh",
        metavar="SECONDS",
        check="interval",
    )

    def policy(self) -> RefreshPolicy:
        """The refresher's policy; the backoff is never shorter than the minimum interval."""
        return RefreshPolicy(
            refresh_ahead=self.refresh_ahead,
            min_interval=self.min_refresh_interval,
            backoff_max=max(self.max_backoff, self.min_refresh_interval),
        )


def refresh_settings(
    refresh_ahead: float | str | None = None,
    min_refresh_interval: float | str = 10.0,
    max_backoff: float | str = 120.0,
) -> RefreshSettings:
    """Check the refresh tuning once, for every command and the API, and build the settings.

    Each value is a finite number of seconds, 0 to a day (the CLI flags check the same at
    parse time and name the flag); ``max_backoff`` must be more than 0, or a failing
    endpoint would be retried in a hot loop.
    """
    ahead = None if refresh_ahead is None else refresh_seconds(refresh_ahead, "--refresh-ahead")
    minimum = refresh_seconds(min_refresh_interval, "--min-refresh-interval")
    backoff = refresh_seconds(max_backoff, "--max-backoff")
    if backoff <= 0:
        raise UsageError("--min-refresh-interval must be >= 0 and --max-backoff > 0")
    return RefreshSettings(refresh_ahead=ahead, min_refresh_interval=minimum, max_backoff=backoff)


def refresh_seconds(value: float | str, name: str) -> float:
    """One refresh setting: a finite number of seconds, 0 to a day; the error names ``name``.

    The rule behind every refresh flag and the Python API's ``advisory_timeout`` /
    ``mandatory_timeout``, so no caller can accept what another refuses.
    """
    from rasign.validate import interval

    try:
        return interval(value)
    except ConfigError as err:
        raise ConfigError(f"{name}: {err.message}", hint=err.hint()) from err


def settings_from_args(args: Any) -> RefreshSettings:
    """:func:`refresh_settings` from the parsed ``--refresh-ahead``/``--min-refresh-interval``/``--max-backoff``."""
    return refresh_settings(args.refresh_ahead, args.min_refresh_interval, args.max_backoff)


# --------------------------------------------------------------------------- refresher


@dataclass
class RefreshStatus:
    """A snapshot for health reports and logs; holds no secret."""

    state: str
    """``fresh`` | ``refreshing-failed`` (still valid, retrying) | ``expired`` | ``starting``."""
    expires_at: _dt.datetime | None
    seconds_left: float | None
    last_success: _dt.datetime | None
    last_attempt: _dt.datetime | None
    consecutive_failures: int
    last_error: str | None
    next_attempt_in: float | None
    refresh_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as RFC 3339 strings)."""

        from rasign.credentials import rfc3339

        def iso(value: _dt.datetime | None) -> str | None:
            return rfc3339(value) if value else None

        return {
            "state": self.state,
            "expiration": iso(self.expires_at),
            "seconds_left": None if self.seconds_left is None else int(self.seconds_left),
            "last_success": iso(self.last_success),
            "last_attempt": iso(self.last_attempt),
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "next_attempt_in": None if self.next_attempt_in is None else round(self.next_attempt_in, 1),
            "refresh_count": self.refresh_count,
        }


class Refresher:
    """Keep credentials fresh on a background thread, never dropping the last good ones.

    ``fetch`` is usually :meth:`SessionMinter.mint`. ``on_update`` callbacks run on the
    refresher thread after every success (serve pre-renders its responses, update writes
    the file); an exception in a callback counts as a failed refresh and is retried.
    """

    def __init__(
        self,
        fetch: Callable[[], CredentialsLike],
        policy: RefreshPolicy | None = None,
        *,
        on_update: Callable[[CredentialsLike], None] | None = None,
        name: str = "rasign-refresher",
        clock: Clock = SYSTEM,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self.policy = policy or RefreshPolicy()
        self._on_update = on_update
        self._name = name
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._credentials: CredentialsLike | None = None
        self._obtained_at: _dt.datetime | None = None
        self._last_attempt_mono: float | None = None
        self._last_attempt: _dt.datetime | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._next_attempt_mono: float | None = None
        self._refresh_count = 0

    # -- lifecycle

    def start(self, *, fail_fast: bool = True) -> None:
        """Fetch the first credentials in the caller's thread, then refresh in the background.

        With ``fail_fast`` any first failure is raised (serve: a broken setup must not start
        listening). Without it only permanent errors (``RasignError.permanent``) are raised and transient ones
        are retried by the background thread (update in a systemd unit at boot).
        """
        try:
            self._attempt(initial=True)
        except RasignError as err:
            if fail_fast or err.permanent:
                raise  # the caller reports it once, as the command's error
            status = self.status()
            log.warning(
                "first CreateSession failed, retrying in %.1fs: %s", status.next_attempt_in or 0.0, err.one_line()
            )
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the background thread (an in-flight CreateSession is allowed to finish)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def refresh_soon(self) -> None:
        """Ask for a refresh as soon as the policy allows (e.g. after SIGHUP)."""
        with self._lock:
            self._next_attempt_mono = self._clock.monotonic()
        self._wake.set()

    # -- readers

    def current(self) -> CredentialsLike | None:
        """The last good credentials if still valid beyond the skew, else None. Never blocks on I/O."""
        credentials = self._credentials
        if credentials is None or seconds_left(credentials, self._clock.now()) <= self.policy.expiry_skew:
            return None
        return credentials

    @property
    def last_credentials(self) -> CredentialsLike | None:
        """The last good credentials even if expired (for diagnostics only)."""
        return self._credentials

    def status(self) -> RefreshStatus:
        """A secret-free snapshot of the refresh state."""
        with self._lock:
            credentials = self._credentials
            now = self._clock.now()
            left = seconds_left(credentials, now) if credentials else None
            if credentials is None:
                state = "starting" if self._failures == 0 else "expired"
            elif left is not None and left <= self.policy.expiry_skew:
                state = "expired"
            elif self._failures:
                state = "refreshing-failed"
            else:
                state = "fresh"
            next_in = None
            if self._next_attempt_mono is not None:
                next_in = max(0.0, self._next_attempt_mono - self._clock.monotonic())
            return RefreshStatus(
                state=state,
                expires_at=credentials.expires_at if credentials else None,
                seconds_left=left,
                last_success=self._obtained_at,
                last_attempt=self._last_attempt,
                consecutive_failures=self._failures,
                last_error=self._last_error,
                next_attempt_in=next_in,
                refresh_count=self._refresh_count,
            )

    # -- machinery

    def _attempt(self, *, initial: bool = False) -> None:
        """One CreateSession; updates state; re-raises the error after recording it.

        ``initial`` failures are not logged here: :meth:`start` decides whether they are
        fatal (then the command prints them once) or retried.
        """
        with self._lock:
            self._last_attempt_mono = self._clock.monotonic()
            self._last_attempt = self._clock.now()
        try:
            credentials = self._fetch()
            if self._on_update is not None:
                self._on_update(credentials)
        except Exception as err:
            throttled = isinstance(err, Throttled)
            message = err.one_line() if isinstance(err, RasignError) else f"{type(err).__name__}: {err}"
            with self._lock:
                self._failures += 1
                self._last_error = message
                delay = self.policy.backoff(self._failures, throttled=throttled)
                self._next_attempt_mono = self._clock.monotonic() + delay
                failures = self._failures
            valid = self.current()
            if initial:
                pass
            elif valid is not None:
                log.warning(
                    "refresh failed (attempt %d), still serving credentials valid for %ds; retry in %.1fs: %s",
                    failures,
                    int(seconds_left(valid, self._clock.now())),
                    delay,
                    message,
                )
            else:
                log.error(
                    "refresh failed (attempt %d), no valid credentials; retry in %.1fs: %s", failures, delay, message
                )
            if isinstance(err, RasignError):
                raise
            raise RasignError(f"refresh failed: {message}") from err
        now = self._clock.now()
        with self._lock:
            self._credentials = credentials
            self._obtained_at = now
            self._failures = 0
            self._last_error = None
            self._refresh_count += 1
            delay = self.policy.next_refresh_delay(credentials, now, now)
            self._next_attempt_mono = self._clock.monotonic() + delay
        log.info(
            "credentials refreshed; they expire at %s, next refresh in %ds",
            credentials.expiration,
            int(delay),
        )

    def _wall_clock_due_locked(self) -> float:
        """Monotonic time at which the wall clock says a refresh is due (inf if not)."""
        credentials, obtained = self._credentials, self._obtained_at
        if credentials is None or obtained is None or self._failures:
            return float("inf")
        lifetime = (credentials.expires_at - obtained).total_seconds()
        due_in = seconds_left(credentials, self._clock.now()) - self.policy.ahead_seconds(lifetime)
        return self._clock.monotonic() + due_in if due_in <= 0 else float("inf")

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                target = self._next_attempt_mono
                if target is None:
                    target = self._clock.monotonic() + self.policy.backoff(max(self._failures, 1))
                    self._next_attempt_mono = target
                target = min(target, self._wall_clock_due_locked())
                if self._last_attempt_mono is not None:
                    target = max(target, self._last_attempt_mono + self.policy.min_interval)
            wait = target - self._clock.monotonic()
            if wait > 0:
                # Short naps: the monotonic clock stops while a laptop sleeps, the wall
                # clock (checked above) does not.
                self._clock.wait(self._wake, min(wait, 30.0))
                self._wake.clear()
                continue
            with contextlib.suppress(Exception):  # recorded and logged by _attempt; keep going
                self._attempt()
