#!/usr/bin/env python3
"""APDUs and PKCS#11 sessions per credential-process on the virtual YubiKey, per module.

Why: ykcs11 rescans the whole card (SELECT, VERIFY status, ATTEST and GET METADATA of 25
slots, GET DATA of every object) on each C_OpenSession, and on a real YubiKey every ATTEST
is an on-card signature. The goal of issue 14 is one object scan per run. This starts the
virtual card (virtualpiv/) behind a private pcscd, provisions it with yubico-piv-tool, runs
one ``rasign credential-process`` per module and slot through OpenSC's pkcs11-spy against
the local emulator, and prints what reached the card and what rasign asked the module for.

    python bench/piv_bench.py [--json] [--python OTHER/.venv/bin/python]   (root: private namespaces)

``--python`` runs rasign with another checkout's venv interpreter (its editable install brings
that checkout's rasign and backends), so a change to backends/pkcs11 is measured before and
after on the same card.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rasign.emulator import Emulator  # noqa: E402
from tests.support.flags import emulator_args  # noqa: E402
from tests.support.pki import Pki  # noqa: E402
from virtualpiv.rig import OPENSC, PIN, PKCS11_SPY, YKCS11, PivRig, missing  # noqa: E402

INS_NAMES = {
    0xA4: "SELECT",
    0x20: "VERIFY",
    0xFD: "GET VERSION",
    0xF8: "GET SERIAL",
    0xF9: "ATTEST",
    0xF7: "GET METADATA",
    0xCB: "GET DATA",
    0xC0: "GET RESPONSE",
    0x87: "GENERAL AUTHENTICATE",
}
CASES = [
    ("ykcs11", YKCS11, "9a", "%01"),
    ("ykcs11", YKCS11, "9c", "%02"),
    ("opensc", OPENSC, "9a", "%01"),
    ("opensc", OPENSC, "9c", "%02"),
]


def spy_calls(log: Path) -> Counter:
    """PKCS#11 functions rasign called, from pkcs11-spy's log ("N: C_Function" lines)."""
    calls: Counter = Counter()
    for line in log.read_text(errors="replace").splitlines():
        name = line.split(": ")[-1].strip()
        if name.startswith("C_"):
            calls[name] += 1
    return calls


def run_case(rig: PivRig, emulator: Emulator, module: str, key_id: str, work: Path, python: str) -> dict:
    log = work / f"spy-{time.monotonic_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RASIGN_"))}
    env.update(rig.env(), PKCS11SPY=module, PKCS11SPY_OUTPUT=str(log), RASIGN_CACHE_DIR=str(work / "cache"))
    if python == sys.executable:
        env["PYTHONPATH"] = str(REPO)  # this checkout; another venv's editable install finds its own
    rig.card.log.clear()
    start = time.perf_counter()
    done = subprocess.run(
        rig.pcscd.wrap(
            [
                python,
                "-m",
                "rasign",
                "credential-process",
                "--pkcs11-lib",
                PKCS11_SPY,
                "--certificate",
                f"pkcs11:id={key_id}?pin-value={PIN}",
                "--reuse-pin",
                "--no-cache",
                *emulator_args(emulator),
            ]
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(work),
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"credential-process failed: {done.stderr.strip()}")
    census = rig.card.census()
    calls = spy_calls(log)
    return {
        "apdus": len(rig.card.log),
        "by_command": {INS_NAMES.get(ins, f"{ins:02X}"): n for ins, n in sorted(census.items())},
        "attest": census[0xF9],
        "get_metadata": census[0xF7],
        "pin_verifies": sum(1 for e in rig.card.log if e.ins == 0x20 and e.length),
        "sessions": calls["C_OpenSession"],
        "logins": calls["C_Login"],
        "signs": calls["C_Sign"],
        "wall_seconds": round(wall, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--python", default=sys.executable, help="interpreter (venv) whose rasign is measured")
    args = parser.parse_args()
    reason = missing()
    if reason:
        print(f"piv_bench: skipped: {reason}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="piv-bench-") as tmp:
        work = Path(tmp)
        pki = Pki(directory=work)
        emulator = Emulator(trust_anchor_pems=[pki.root_pem], region="us-east-1")
        emulator.start()
        rig = PivRig.start(work / "card")
        try:
            rig.provision(lambda public, path, cn: pki.issue(public, path, cn=cn))
            results = {
                f"{name} {slot}": run_case(rig, emulator, module, key_id, work, args.python)
                for name, module, slot, key_id in CASES
            }
        finally:
            rig.stop()
            emulator.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"rasign run by {args.python}")
    print(
        f"{'module slot':<12} {'APDUs':>6} {'ATTEST':>7} {'METADATA':>9} {'VERIFY':>7} "
        f"{'sessions':>9} {'C_Login':>8} {'scans':>6} {'wall s':>7}"
    )
    for name, r in results.items():
        scans = r["attest"] / 25 if name.startswith("ykcs11") else float("nan")
        print(
            f"{name:<12} {r['apdus']:>6} {r['attest']:>7} {r['get_metadata']:>9} {r['pin_verifies']:>7} "
            f"{r['sessions']:>9} {r['logins']:>8} {scans:>6.1f} {r['wall_seconds']:>7.2f}"
        )
    print("scans = ATTEST / 25 key slots (ykcs11 scans the card once per C_OpenSession); goal: 1 scan per run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
