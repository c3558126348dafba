"""Run one command with the virtual YubiKey inserted: ``python -m virtualpiv [--provision] -- CMD ...``.

For looking at what a PKCS#11 module does to a card by hand, e.g.::

    python -m virtualpiv --provision --log -- pkcs11-tool --module /usr/lib/x86_64-linux-gnu/libykcs11.so -O

The command runs in the private pcscd's mount namespace (needs root). ``--provision`` fills
9a/9c/9d as the tests do, with certificates from a throw-away CA written to ``--dir``.
Afterwards the card's APDU counts (and with ``--log`` every exchange, secrets redacted) go
to stderr; the exit status is the command's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

from virtualpiv.rig import PivRig, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m virtualpiv", description=__doc__.split("\n\n")[0])
    parser.add_argument("--provision", action="store_true", help="generate/import keys and certificates first")
    parser.add_argument("--dir", type=Path, help="keep the card's files here (default: a temporary directory)")
    parser.add_argument("--log", action="store_true", help="print every APDU exchange after the command")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run (after --)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run after --")
    reason = missing()
    if reason:
        print(f"virtualpiv: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="virtualpiv-") as tmp:
        directory = args.dir or Path(tmp)
        rig = PivRig.start(directory)
        try:
            if args.provision:
                from tests.support.pki import Pki

                pki = Pki(directory=directory)
                print(f"virtualpiv: slot certificates issued by {pki.root_path}", file=sys.stderr)
                rig.provision(lambda public, path, cn: pki.issue(public, path, cn=cn))
            rig.card.log.clear()
            done = rig.pcscd.run(command, capture_output=False, timeout=None)
        finally:
            rig.stop()
    if args.log:
        for exchange in rig.card.log:
            print(exchange, file=sys.stderr)
    census: Counter = rig.card.census()
    summary = ", ".join(f"{ins:02X}:{count}" for ins, count in sorted(census.items()))
    print(f"virtualpiv: {len(rig.card.log)} APDUs by INS: {summary}", file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
