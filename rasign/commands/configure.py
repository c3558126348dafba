"""``rasign configure``: write ``[profile NAME]`` with a ``credential_process`` line into ~/.aws/config.

The Go helper leaves users pasting a 300-character ``credential_process`` line by hand; with
named identities the line is short and this command writes it::

    [profile prod]
    credential_process = /usr/local/bin/rasign credential-process --identity prod
    region = eu-west-1

The file is changed through the same safe INI writer as ``update`` (:mod:`rasign.credfile`:
lock, re-read, atomic replace, every other byte kept), so running it twice changes nothing
and comments or other profiles survive. ``--print`` shows the section instead.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import TYPE_CHECKING

from rasign.cli import flags
from rasign.errors import StoreError, UsageError

if TYPE_CHECKING:
    from rasign.identities import Identity


def configure(parser: argparse.ArgumentParser) -> None:
    """Which identities, which profile name, which file, and whether to only print."""
    parser.add_argument("--all", action="store_true", help="one profile for every identity of the file")
    parser.add_argument("--profile", metavar="NAME", help="profile name (default: the identity's name)")
    parser.add_argument(
        "--config-file", metavar="PATH", help="AWS config file (default AWS_CONFIG_FILE, then ~/.aws/config)"
    )
    parser.add_argument("--print", dest="print_only", action="store_true", help="print the sections instead of writing")
    flags.add_debug_flag(parser)


def aws_config_path(explicit: str | None) -> str:
    """``--config-file``, then ``AWS_CONFIG_FILE``, then ``~/.aws/config`` (botocore's order)."""
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    env = os.environ.get("AWS_CONFIG_FILE")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    home = os.path.expanduser("~")
    if home in ("", "~"):
        raise StoreError(
            "cannot locate the home directory for ~/.aws/config", hint="set AWS_CONFIG_FILE or pass --config-file"
        )
    return os.path.join(home, ".aws", "config")


def rasign_command() -> list[str]:
    """How to start this rasign again from any directory: its absolute script path, else ``python -m rasign``."""
    script = sys.argv[0] if sys.argv else ""
    name = os.path.basename(script)
    if name and name not in ("__main__.py", "-c", "-m") and os.path.isfile(script):
        return [os.path.abspath(script)]
    return [os.path.abspath(sys.executable), "-m", "rasign"]


def profile_lines(identity: str, region: str | None, config: str | None) -> dict[str, str]:
    """The keys of one profile: the credential_process line and, when known, the region."""
    command = [*rasign_command(), "credential-process", "--identity", identity]
    if config:
        command += ["--config", config]
    values = {"credential_process": _join(command)}
    if region:
        values["region"] = region
    return values


def _join(command: list[str]) -> str:
    # botocore splits credential_process with shlex (POSIX) or its own Windows rules.
    if os.name == "nt":
        import subprocess

        return subprocess.list2cmdline(command)
    return shlex.join(command)


def run(args: argparse.Namespace) -> int:
    """Write (or print) one profile per chosen identity."""
    from rasign import credfile
    from rasign.identities import CONFIG_ENV, config_path

    path = args.identity_config or config_path()
    identities = _chosen_identities(args, path)
    # Name the file in the line only when it is not where credential-process looks by itself.
    explicit = path if (args.identity_config or os.environ.get(CONFIG_ENV)) else None

    target = aws_config_path(args.config_file)
    for identity in identities:
        region = _region_of(identity)
        _check_arns(identity, region)
        values = profile_lines(identity.name, region, explicit)
        name = args.profile or identity.name
        section = "default" if name == "default" else f"profile {name}"  # botocore reads [default] bare
        if args.print_only:
            print(f"[{section}]")
            for key, value in values.items():
                print(f"{key} = {value}")
            print()
            continue
        credfile.write_profile(target, section, values)
        print(f"wrote [{section}] to {target}", file=sys.stderr)
    return 0


def _chosen_identities(args: argparse.Namespace, path: str) -> list[Identity]:
    """``--all`` (never with ``--profile``: one name for many sections) or the one ``--identity``."""
    from rasign.identities import get_identity, load_identities

    if args.all:
        if args.profile:
            raise UsageError("--all cannot be combined with --profile", hint="each identity's profile takes its name")
        return list(load_identities(path).values())
    if args.identity:
        return [get_identity(args.identity, path)]
    raise UsageError("say which identity to configure", hint="pass --identity NAME or --all")


def _region_of(identity: Identity) -> str | None:
    """The identity's region, else its trust anchor's (the region Roles Anywhere answers in)."""
    region = identity.values.get("region")
    if region:
        return str(region)
    anchor = identity.values.get("trust-anchor-arn")
    if anchor:
        from rasign.arns import parse_arn

        return parse_arn(str(anchor), "trust anchor").region or None
    return None


def _check_arns(identity: Identity, region: str | None) -> None:
    """A profile for ARNs that cannot work would only fail later, on every AWS CLI call: refuse it now."""
    arns = [identity.values.get(key) for key in ("role-arn", "profile-arn", "trust-anchor-arn")]
    if not all(arns):
        return
    from rasign.options import SessionOptions
    from rasign.session import plan_session

    plan_session(
        SessionOptions(role_arn=str(arns[0]), profile_arn=str(arns[1]), trust_anchor_arn=str(arns[2]), region=region)
    )
