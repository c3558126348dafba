"""``rasign credential-process``: print credentials for the AWS SDKs' ``credential_process``.

stdout carries exactly the JSON object and nothing else (no newline, like the Go helper);
every diagnostic goes to stderr. The order of work keeps failures cheap: flags and ARNs are
checked first, then the cache, then the key (which may prompt for a PIN), then the network.
"""

from __future__ import annotations

import argparse
import sys

from rasign.cli import flags

SUMMARY = "print temporary credentials as credential_process JSON"


def configure(parser: argparse.ArgumentParser) -> None:
    """Go helper flags plus rasign's additions (cache, instance properties, TLS options)."""
    flags.add_signer_flags(parser)
    flags.add_session_flags(parser)
    cache = parser.add_argument_group("credential cache")
    cache.add_argument("--cache", dest="cache", action="store_true", default=None, help="reuse unexpired credentials from the per-user cache")
    cache.add_argument("--no-cache", dest="cache", action="store_false", help="always mint a new session")
    flags.add_debug_flag(parser)


def run(args: argparse.Namespace) -> int:
    """Validate, consult the cache, sign, call CreateSession, print the JSON."""
    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)
    from rasign.session import plan_session

    signer_options = flags.signer_options(args)
    session_options = flags.session_options(args)
    plan_session(session_options)

    key = None
    if args.cache is not False:  # --no-cache: do not even import the cache
        from rasign import cache

        key = cache.cache_key(signer_options, session_options) if cache.cache_wanted(args) else None
    if key is not None:
        hit = cache.load_cached(key)
        if hit is not None:
            sys.stdout.write(hit)
            sys.stdout.flush()
            return 0

    from rasign.workflow import obtain_credentials

    credentials = obtain_credentials(signer_options, session_options, backend=args.backend)
    output = credentials.to_process_json()
    if key is not None:
        from rasign import cache

        cache.store_cached(key, output, credentials.expiration)
    sys.stdout.write(output)
    sys.stdout.flush()
    return 0
