"""``rasign credential-process``: print credentials for the AWS SDKs' ``credential_process``.

stdout carries exactly the JSON object and nothing else (no newline, like the Go helper);
every diagnostic goes to stderr. The order of work keeps failures cheap: flags and ARNs are
checked first, then the cache, then the key (which may prompt for a PIN), then the network.
"""

from __future__ import annotations

import argparse
import sys

from rasign.cli import flags


def configure(parser: argparse.ArgumentParser) -> None:
    """Go helper flags plus rasign's additions (cache, instance properties, TLS options)."""
    flags.add_signer_flags(parser)
    flags.add_session_flags(parser)
    cache = parser.add_argument_group("credential cache")
    cache.add_argument(
        "--cache",
        dest="cache",
        action="store_true",
        default=None,
        help="reuse unexpired credentials from the per-user cache",
    )
    cache.add_argument("--no-cache", dest="cache", action="store_false", help="always mint a new session")
    flags.add_agent_flags(parser)
    flags.add_debug_flag(parser)


def run(args: argparse.Namespace) -> int:
    """Validate, consult the cache, sign, call CreateSession, print the JSON."""
    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)
    flags.check_agent_flags(args)
    if getattr(args, "agent", False):
        # The agent fast path (rasign.entry) was skipped (--debug) or no agent answered.
        from rasign.agent.forward import credentials_from_agent

        credentials = credentials_from_agent(args, "credential-process")
        if credentials is not None:
            sys.stdout.write(credentials.to_process_json())
            sys.stdout.flush()
            return 0
    from rasign.session import plan_session

    signer_options = flags.signer_options(args)
    planned = plan_session(flags.session_options(args))

    key = None
    if args.cache is not False:  # --no-cache: do not even import the cache
        from rasign import cache

        key = cache.cache_key(signer_options, planned.options) if cache.cache_wanted(args, signer_options) else None
    if key is not None:
        hit = cache.load_cached(key)
        if hit is not None:
            sys.stdout.write(hit)
            sys.stdout.flush()
            return 0

    from rasign.workflow import obtain_credentials

    credentials = obtain_credentials(signer_options, planned)
    output = credentials.to_process_json()
    if key is not None:
        from rasign import cache

        cache.store_cached(key, output, credentials.expiration)
    sys.stdout.write(output)
    sys.stdout.flush()
    return 0
