#!/usr/bin/env python3
"""Signatures per second: rasign's long-lived PKCS#11 signer vs a raw python-pkcs11 loop.

Why: ``serve`` and ``update`` sign through one kept session and key handle; this checks
that rasign's layer (locking, mechanism plan, hashing, DER conversion, recovery guard)
costs under 10% of what the token itself allows. Both loops run in the same process, on
the same SoftHSM2 key, alternating rounds so machine noise hits both alike; the baseline is
what a hand-written python-pkcs11 program does for the same wire result (RSA:
CKM_SHA256_RSA_PKCS over the message; EC: host SHA-256 + CKM_ECDSA).

    python bench/pkcs11_bench.py [--seconds 1.5] [--rounds 5] [--manifest M.json]

Without ``--manifest`` it provisions throw-away tokens with softhsm/provision.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MESSAGE = (
    b"AWS4-X509-ECDSA-SHA256\n20261123T091500Z\n20261123/us-east-1/rolesanywhere/aws4_request\n"
    b"3f1c0d7a9e6b5a4c3d2e1f00112233445566778899aabbccddeeff0011223344"
)


def timed(fn, seconds: float) -> tuple[int, float]:
    """(calls, elapsed seconds) of ``fn`` run for about ``seconds``."""
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            fn()
        count += 20
        now = time.perf_counter()
        if now >= deadline:
            return count, now - start


def provision(directory: str) -> dict:
    subprocess.run([sys.executable, str(REPO / "softhsm" / "provision.py"), "--dir", directory], check=True, capture_output=True)
    return json.loads(Path(directory, "manifest.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="length of each timed round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per loop (alternating)")
    parser.add_argument("--manifest", help="manifest.json of already provisioned tokens")
    args = parser.parse_args()

    scratch = None
    if args.manifest:
        manifest = json.loads(Path(args.manifest).read_text())
    else:
        scratch = tempfile.TemporaryDirectory(prefix="rasign-bench-")
        manifest = provision(os.path.join(scratch.name, "hsm"))
    os.environ["SOFTHSM2_CONF"] = manifest["softhsm2_conf"]  # before the module is initialised

    from pkcs11 import Attribute, Mechanism, ObjectClass
    from rasign.backends.pkcs11 import Pkcs11Backend
    from rasign.backends.pkcs11 import module as modules

    from rasign.options import SignerOptions

    token = manifest["tokens"]["rasign-a"]
    results = {}
    for label, kind in (("rsa-2048", "RSA"), ("ec-p256", "EC")):
        options = SignerOptions(
            certificate=f"pkcs11:token=rasign-a;object={label}?pin-value={token['pin']}",
            pkcs11_lib=manifest["module"], interactive=False,
        )
        signer = Pkcs11Backend.open(options)
        # The raw loop shares the already initialised module (a second C_Initialize is an
        # error) and the token-wide login rasign made; everything else is plain python-pkcs11.
        lib = modules.load(manifest["module"]).lib
        raw_session = lib.get_token(token_label="rasign-a").open()
        raw_key = next(raw_session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}))
        if kind == "RSA":
            def raw(raw_key=raw_key) -> bytes:
                return raw_key.sign(MESSAGE, mechanism=Mechanism.SHA256_RSA_PKCS)
        else:
            def raw(raw_key=raw_key) -> bytes:
                return raw_key.sign(hashlib.sha256(MESSAGE).digest(), mechanism=Mechanism.ECDSA)

        def through_rasign(signer=signer) -> bytes:
            return signer.sign(MESSAGE)

        raw(), through_rasign()  # warm up
        # Many short slices, alternating and swapping which goes first, so load from other
        # processes on the machine lands on both loops alike; each round's figure is the
        # total over its slices, and the reported figure the median round.
        raw_rates, rasign_rates = [], []
        slices = max(2, int(args.seconds / 0.1))
        for _ in range(args.rounds):
            totals = {"raw": [0.0, 0], "rasign": [0.0, 0]}
            for index in range(slices):
                order = (("raw", raw), ("rasign", through_rasign))
                for name, fn in order if index % 2 == 0 else reversed(order):
                    calls, elapsed = timed(fn, args.seconds / slices)
                    totals[name][0] += elapsed
                    totals[name][1] += calls
            raw_rates.append(totals["raw"][1] / totals["raw"][0])
            rasign_rates.append(totals["rasign"][1] / totals["rasign"][0])
        raw_median, rasign_median = statistics.median(raw_rates), statistics.median(rasign_rates)
        results[label] = {
            "raw_python_pkcs11_per_s": round(raw_median, 1),
            "rasign_per_s": round(rasign_median, 1),
            "ratio": round(rasign_median / raw_median, 3),
            "overhead_us_per_signature": round(1e6 / rasign_median - 1e6 / raw_median, 2),
            "rounds": args.rounds,
            "seconds_per_round": args.seconds,
        }
        print(f"{label:9s} raw python-pkcs11 {raw_median:9.1f}/s   rasign {rasign_median:9.1f}/s   ratio {rasign_median / raw_median:.3f}"
              f"   overhead {1e6 / rasign_median - 1e6 / raw_median:+.1f} us/sig   (goal >= 0.9; medians of {args.rounds} rounds)")
        raw_session.close()
        signer.close()
    print(json.dumps(results))
    if scratch is not None:
        scratch.cleanup()
    return 0 if all(r["ratio"] >= 0.9 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
