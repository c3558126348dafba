"""``rasign update``: keep a profile in the shared credentials file fresh.

Differences from the Go helper, all deliberate: the file is replaced atomically under an
advisory lock (concurrent ``update`` processes and readers are safe); nothing but the
profile's credential keys changes; ``~/.aws`` is created 0700; a failed CreateSession in
the loop is retried with backoff instead of killing the daemon; an unparseable expiration
cannot cause a hot loop. ``--once`` writes once and exits with the error, if any.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING, Any

from rasign.cli import flags
from rasign.errors import UsageError
from rasign.logs import get_logger

SUMMARY = "write credentials into the shared credentials file and keep them fresh"

if TYPE_CHECKING:
    from rasign.options import SignerOptions

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


def capture_environment_secrets(options: SignerOptions) -> SignerOptions:
    """Copy password variables the backends would re-read on every refresh into the options.

    :func:`rasign.hardening.harden_process` removes them from the environment once the key
    is open; the file backend re-opens its key for each CreateSession and would then find
    no password. (serve needs the same before it hardens itself.)
    """
    import dataclasses
    import os

    fields = {
        "pkcs8_password": "RASIGN_PKCS8_PASSWORD",
        "tpm_key_password": "RASIGN_TPM_KEY_PASSWORD",
        "tpm_parent_password": "RASIGN_TPM_PARENT_PASSWORD",
    }
    changes: dict[str, Any] = {}
    for field, variable in fields.items():
        value = os.environ.get(variable)
        if value and getattr(options, field, None) is None:
            if field == "tpm_key_password" and getattr(options, "no_tpm_key_password", False):
                continue
            changes[field] = value
    return dataclasses.replace(options, **changes) if changes else options


def run(args: argparse.Namespace) -> int:
    """Mint, write, and (without ``--once``) keep refreshing until SIGTERM."""
    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)
    from rasign.credfile import check_profile_name, check_writable, credentials_path, profile_values, write_profile
    from rasign.hardening import harden_process
    from rasign.refresh import Refresher, RefreshPolicy, SessionMinter

    problem = check_profile_name(args.profile)
    if problem:
        raise UsageError(
            f"invalid --profile {args.profile!r}: {problem}",
            hint="give the name exactly as it appears between the brackets, without surrounding spaces",
        )
    if args.refresh_ahead is not None and args.refresh_ahead < 0:
        raise UsageError("--refresh-ahead must not be negative")
    signer_options = capture_environment_secrets(flags.signer_options(args))
    session_options = flags.session_options(args)
    path = credentials_path(args.credentials_file)
    # Every local path (file, directory, lock) and the file's content are checked before the
    # first CreateSession: a bad one costs no PIN prompt and no request.
    check_writable(path, args.profile)

    def write(credentials) -> None:
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
        policy = RefreshPolicy(
            refresh_ahead=args.refresh_ahead,
            min_interval=max(args.min_refresh_interval, 0.0),
            backoff_max=max(args.max_backoff, args.min_refresh_interval, 1.0),
        )
        refresher = Refresher(minter.mint, policy, on_update=write, name="rasign-update-refresh")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: refresher.refresh_soon())
        refresher.start(fail_fast=False)
        from rasign.serve.notify import sd_notify

        sd_notify("READY=1")
        while not stop.wait(1.0):
            pass
        log.info("shutting down")
        refresher.stop()
        return 0
    finally:
        minter.close()
