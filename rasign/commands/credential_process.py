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
    agent = parser.add_argument_group("agent (rasign agent)")
    agent.add_argument(
        "--agent", action="store_true", help="get the credentials from the running rasign agent; fail if none runs"
    )
    agent.add_argument("--no-agent", action="store_true", help="never ask a running agent (env RASIGN_NO_AGENT=1)")
    flags.add_debug_flag(parser)


def run(args: argparse.Namespace) -> int:
    """Validate, consult the cache, sign, call CreateSession, print the JSON."""
    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)
    if getattr(args, "agent", False) and getattr(args, "no_agent", False):
        from rasign.errors import UsageError

        raise UsageError("--agent and --no-agent exclude each other")
    if getattr(args, "agent", False):
        # The agent fast path (rasign.entry) was skipped (--debug) or no agent answered.
        from rasign.agent.client import AgentFailed, credential_process

        try:
            output = credential_process([a for a in sys.argv[2:] if a != "--debug"])
        except AgentFailed as err:
            from rasign.errors import RasignError

            failure = RasignError(err.line)
            failure.exit_code = err.exit_code  # type: ignore[misc]  # the agent's own class decided it
            raise failure from err
        if output is not None:
            sys.stdout.write(output)
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
