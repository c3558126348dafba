"""``rasign export``: print credentials as shell assignments (sh, fish, PowerShell) or JSON.

For ``eval "$(rasign export --identity prod)"`` in a shell that has no ``credential_process``
support, or a CI step that hands variables to the next one. Values are quoted for the
chosen shell, so a token can never break out of its assignment. stdout carries only the
assignments; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from rasign.cli import flags

FORMATS = ("sh", "fish", "powershell", "json")


def configure(parser: argparse.ArgumentParser) -> None:
    """The credential-process flags plus ``--format``."""
    from rasign import cache

    parser.add_argument("--format", choices=FORMATS, default="sh", help="output syntax (default sh)")
    flags.add_signer_flags(parser)
    flags.add_session_flags(parser)
    cache.add_cache_flags(parser)
    flags.add_agent_flags(parser)
    flags.add_debug_flag(parser)


def credential_environment(args: argparse.Namespace, command: str = "export") -> dict[str, str]:
    """The variables ``exec`` and ``export`` hand out: keys, token, expiration and region.

    A running ``rasign agent`` is asked first (as ``credential-process`` asks it), so the
    PIN it holds serves these commands too; without one they mint in this process.
    """
    from rasign.agent.forward import credentials_from_agent
    from rasign.chain import credentials_for
    from rasign.credentials import from_process_json
    from rasign.session import plan_session

    flags.check_exclusions(args, flags.CREDENTIAL_EXCLUSIONS)  # before the session checks, as credentials_for does
    flags.check_agent_flags(args)
    planned = plan_session(flags.session_options(args))
    credentials = credentials_from_agent(args, command)
    if credentials is None:
        credentials, text = credentials_for(args, planned=planned)
        if credentials is None:
            credentials = from_process_json(text)
    target = planned.target
    return {
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "AWS_SESSION_TOKEN": credentials.session_token,
        "AWS_CREDENTIAL_EXPIRATION": credentials.expiration,
        "AWS_REGION": target.region,
        "AWS_DEFAULT_REGION": target.region,
    }


def render(variables: dict[str, str], fmt: str) -> str:
    """The assignments in ``fmt`` syntax, each value quoted so it stays one literal word."""
    if fmt == "json":
        return json.dumps(variables, indent=2) + "\n"
    lines = []
    for name, value in variables.items():
        if fmt == "sh":
            import shlex

            lines.append(f"export {name}={shlex.quote(value)}")
        elif fmt == "fish":
            quoted = value.replace("\\", "\\\\").replace("'", "\\'")
            lines.append(f"set -gx {name} '{quoted}'")
        else:
            quoted = value.replace("'", "''")
            lines.append(f"$Env:{name} = '{quoted}'")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Obtain credentials (cache, CreateSession, chain) and print them in the chosen syntax."""
    sys.stdout.write(render(credential_environment(args), args.format))
    sys.stdout.flush()
    return 0
