"""``rasign update``: keep a profile in the shared credentials file fresh.

Differences from the Go helper, all deliberate: the file is replaced atomically under an
advisory lock (concurrent ``update`` processes and readers are safe); nothing but the
profile's credential keys changes; ``~/.aws`` is created 0700; a failed CreateSession in
the loop is retried with backoff instead of killing the daemon; an unparseable expiration
cannot cause a hot loop. ``--once`` writes once and exits with the error, if any.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rasign.cli import flags
from rasign.errors import UsageError
from rasign.logs import get_logger

if TYPE_CHECKING:
    from rasign.clock import Clock
    from rasign.lifecycle import Lifecycle
    from rasign.refresh import RefreshSettings

log = get_logger("update")


def configure(parser: argparse.ArgumentParser) -> None:
    """Go helper flags (``--profile``, ``--once``) plus the file location and refresh tuning."""
    flags.add_signer_flags(parser)
    flags.add_session_flags(parser)
    group = parser.add_argument_group("credentials file")
    group.add_argument("--profile", default="default", metavar="NAME", help="profile to write (default 'default')")
    group.add_argument("--once", action="store_true", help="write once and exit")
    group.add_argument(
        "--credentials-file",
        metavar="PATH",
        help="file to update (default AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)",
    )
    flags.add_refresh_flags(parser)
    flags.add_debug_flag(parser)


def run(args: argparse.Namespace, *, clock: Clock | None = None, lifecycle: Lifecycle | None = None) -> int:
    """Mint, write, and (without ``--once``) keep refreshing until SIGTERM (or ``lifecycle.stop()``).

    ``clock`` and ``lifecycle`` let tests run the loop in-process on a fake clock.
    """
    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)
    from rasign.credfile import check_profile_name, check_writable, credentials_path, profile_values, write_profile
    from rasign.hardening import harden_process
    from rasign.refresh import SessionMinter, capture_environment_secrets, settings_from_args

    problem = check_profile_name(args.profile)
    if problem:
        raise UsageError(
            f"invalid --profile {args.profile!r}: {problem}",
            hint="give the name exactly as it appears between the brackets, without surrounding spaces",
        )
    settings = settings_from_args(args)
    signer_options = capture_environment_secrets(flags.signer_options(args))
    session_options = flags.session_options(args)
    path = credentials_path(args.credentials_file)
    # Every local path (file, directory, lock) and the file's content are checked before the
    # first CreateSession: a bad one costs no PIN prompt and no request.
    check_writable(path, args.profile)

    def write(credentials: Any) -> None:
        values = profile_values(
            credentials.access_key_id,
            credentials.secret_access_key,
            credentials.session_token,
            credentials.expiration,
        )
        write_profile(path, args.profile, values)
        log.info("wrote profile [%s] to %s; credentials expire at %s", args.profile, path, credentials.expiration)

    from rasign.chain import chained

    minter = chained(SessionMinter(signer_options, session_options), args, session_options)
    try:
        minter.open()  # the PIN (if any) is read here, in the foreground
        harden_process()  # then: no PIN in the environment, no core file, no ptrace by the same user
        if args.once:
            write(minter.mint())
            return 0
        _keep_fresh(minter.mint, write, settings, clock, lifecycle)
        return 0
    finally:
        minter.close()


def _keep_fresh(
    mint: Callable[[], Any],
    write: Callable[[Any], None],
    settings: RefreshSettings,
    clock: Clock | None,
    lifecycle: Lifecycle | None,
) -> None:
    """The loop: refresh in the background (a failed first attempt is retried), write each result."""
    from rasign.clock import SYSTEM
    from rasign.lifecycle import Lifecycle
    from rasign.refresh import Refresher
    from rasign.serve.notify import sd_notify

    clock = clock or (lifecycle.clock if lifecycle else SYSTEM)
    lifecycle = lifecycle or Lifecycle(clock)
    refresher = Refresher(mint, settings.policy(), on_update=write, name="rasign-update-refresh", clock=clock)
    lifecycle.on_hangup(refresher.refresh_soon)
    with lifecycle.signals():
        refresher.start(fail_fast=False)
        try:
            sd_notify("READY=1")
            lifecycle.run_until_stopped()
            log.info("shutting down")
        finally:
            refresher.stop()
