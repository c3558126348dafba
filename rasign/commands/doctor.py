"""``rasign doctor``: one line per check (✓ / ✗ / !), each failure with its fix; ``--json`` for machines.

Takes the same flags as credential-process (or ``--identity NAME``) and checks, without
spending a PIN attempt: the certificate, its chain (optionally validated to a trust-anchor
PEM), that the key matches it, that the ARNs agree, that the backend is reachable, and the
endpoint (DNS, TCP, TLS with the CA bundle, proxy, clock skew). ``--live`` adds one real
CreateSession. Exit status 0 when nothing failed (warnings are advice), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys

from rasign.cli import flags

SYMBOLS = {"pass": "✓", "fail": "✗", "warn": "!"}
ASCII = {"pass": "ok", "fail": "FAIL", "warn": "warn"}


def configure(parser: argparse.ArgumentParser) -> None:
    """credential-process's flags plus ``--trust-anchor-pem``, ``--live``, ``--offline`` and ``--json``."""
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--live", action="store_true", help="also run one real CreateSession (may ask for a PIN)")
    parser.add_argument("--offline", action="store_true", help="skip the endpoint checks (DNS, TCP, TLS, clock)")
    parser.add_argument(
        "--trust-anchor-pem", metavar="PATH", help="CA certificate(s) of the trust anchor, to validate the path"
    )
    flags.add_signer_flags(parser)
    flags.add_session_flags(parser)
    flags.add_debug_flag(parser)


def run(args: argparse.Namespace) -> int:
    """Run every applicable check and print the report."""
    from rasign.doctor import as_json, exit_code, run_checks
    from rasign.textsafe import clean

    results = run_checks(
        flags.signer_options(args),
        flags.session_options(args),
        trust_anchor_pem=args.trust_anchor_pem,
        live=args.live,
        network=not args.offline,
    )
    if args.json:
        sys.stdout.write(json.dumps(as_json(results), indent=2) + "\n")
        return exit_code(results)
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗".encode(encoding)
        marks = SYMBOLS
    except (UnicodeEncodeError, LookupError):
        marks = ASCII
    for check in results:
        line = f"{marks[check.status]} {check.name}: {check.detail}"
        if check.fix and check.status != "pass":
            line += f" -- fix: {check.fix}"
        print(clean(line, limit=1000))
    return exit_code(results)
