"""``rasign identities``: list the named identities, so a user sees what ``--identity`` can take.

Loading validates the whole file, so this doubles as "is my config file right?": a broken
file fails here with the file, line and key, exactly as ``--identity`` would.
"""

from __future__ import annotations

import argparse
import json
import sys

from rasign.cli import flags


def configure(parser: argparse.ArgumentParser) -> None:
    """``--json`` for machines; ``--config`` comes with the identity flags."""
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    flags.add_debug_flag(parser)


def run(args: argparse.Namespace) -> int:
    """Print one line per identity (name, role, key source, chain), or JSON."""
    from rasign.identities import config_path, load_identities
    from rasign.textsafe import clean

    path = args.identity_config or config_path()
    identities = load_identities(path)
    rows = [identity.summary() for identity in identities.values()]
    if args.json:
        sys.stdout.write(json.dumps({"file": path, "identities": rows}, indent=2) + "\n")
        return 0
    if not rows:
        print(clean(f"no identities in {path}"))
        return 0
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        chain = "".join(f" -> {arn}" for arn in row["chain"])
        text = f"{row['name']:<{width}}  {row['role_arn'] or '(no role-arn)'}{chain}  key: {row['key'] or '-'}"
        if row["description"]:
            text += f"  # {row['description']}"
        print(clean(text))
    return 0
