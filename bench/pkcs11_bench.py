#!/usr/bin/env python3
"""Per PKCS#11 module: rasign's long-lived signer vs a raw python-pkcs11 loop, and sessions per run.

Why: ``serve`` and ``update`` sign through one kept session and key handle; this checks that
rasign's layer (locking, mechanism plan, hashing, DER conversion, recovery guard) costs under
10% of what each module itself allows (goal: ratio >= 0.9), and that a ``credential-process``
opens one session only -- ykcs11 and OpenSC rescan the whole card on every ``C_OpenSession``
(issue 14).

The modules are the test matrix's (tests/p11modules/modules.py brings each up in a private
directory and stops its daemons by PID): SoftHSM2, p11-kit remoting, tpm2-pkcs11 on swtpm,
opencryptoki's soft token (in a mount namespace) and NSS softokn. For each module and key, a
child process (inside the module's namespace where it has one) alternates short slices of
rasign's ``sign()`` with a raw python-pkcs11 loop on the same key, same session login and same
mechanism (RSA: CKM_SHA256_RSA_PKCS, or CKM_RSA_PKCS over a DigestInfo where the token has only
that; EC: host SHA-256 + CKM_ECDSA); the figure is the median round. Sessions are counted by
OpenSC's pkcs11-spy around one ``rasign credential-process`` against the local emulator.

    python bench/pkcs11_bench.py [--seconds 1.0] [--rounds 3] [--modules softhsm,nss_softokn]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MESSAGE = (
    b"AWS4-X509-ECDSA-SHA256\n20261123T091500Z\n20261123/us-east-1/rolesanywhere/aws4_request\n"
    b"3f1c0d7a9e6b5a4c3d2e1f00112233445566778899aabbccddeeff0011223344"
)
ALL_MODULES = ("softhsm", "p11kit_remote", "tpm2_pkcs11", "opencryptoki", "nss_softokn")


def timed(fn, seconds: float) -> tuple[int, float]:
    """(calls, elapsed seconds) of ``fn`` run for about ``seconds`` (at least 5 calls)."""
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(5):
            fn()
        count += 5
        now = time.perf_counter()
        if now >= deadline:
            return count, now - start


def measure(spec: dict) -> dict:
    """In the module's environment: raw python-pkcs11 vs rasign on each key of ``spec``."""
    from pkcs11 import Attribute, ObjectClass

    from rasign.backends.pkcs11 import Pkcs11Backend
    from rasign.backends.pkcs11 import module as modules
    from rasign.backends.pkcs11.session import DIGEST_INFO, HOST_HASH
    from rasign.options import SignerOptions
    from rasign.signer import DIGEST_INFO_PREFIX

    results = {}
    for role, uri in spec["uris"].items():
        signer = Pkcs11Backend.open(
            SignerOptions(
                certificate=uri, pkcs11_lib=spec["library"], pkcs11_init_args=spec["init_args"], interactive=False
            )
        )
        # The raw loop shares the initialised module (a second C_Initialize is an error) and
        # the token-wide login rasign made; everything else is plain python-pkcs11.
        lib = modules.load(spec["library"]).lib
        token = next(
            s.get_token()
            for s in lib.get_slots(token_present=True)
            if s.get_token().label.split("\x00")[0].rstrip() == spec["token"]
        )
        raw_session = token.open()
        raw_key = next(
            raw_session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: spec["labels"][role]})
        )
        mechanism, prepare = signer._mechanisms.plan(signer._key.kind, "SHA256")
        if prepare == HOST_HASH:

            def raw(raw_key=raw_key, mechanism=mechanism) -> bytes:
                return raw_key.sign(hashlib.sha256(MESSAGE).digest(), mechanism=mechanism)
        elif prepare == DIGEST_INFO:

            def raw(raw_key=raw_key, mechanism=mechanism) -> bytes:
                return raw_key.sign(
                    DIGEST_INFO_PREFIX["SHA256"] + hashlib.sha256(MESSAGE).digest(), mechanism=mechanism
                )
        else:

            def raw(raw_key=raw_key, mechanism=mechanism) -> bytes:
                return raw_key.sign(MESSAGE, mechanism=mechanism)

        def through_rasign(signer=signer) -> bytes:
            return signer.sign(MESSAGE)

        raw(), through_rasign()  # warm up
        # Short slices, alternating and swapping which goes first, so load from other
        # processes lands on both loops alike; a round's figure is the total over its slices.
        raw_rates, rasign_rates = [], []
        slices = max(2, int(spec["seconds"] / 0.1))
        for _ in range(spec["rounds"]):
            totals = {"raw": [0.0, 0], "rasign": [0.0, 0]}
            for index in range(slices):
                order = (("raw", raw), ("rasign", through_rasign))
                for name, fn in order if index % 2 == 0 else reversed(order):
                    calls, elapsed = timed(fn, spec["seconds"] / slices)
                    totals[name][0] += elapsed
                    totals[name][1] += calls
            raw_rates.append(totals["raw"][1] / totals["raw"][0])
            rasign_rates.append(totals["rasign"][1] / totals["rasign"][0])
        raw_median, rasign_median = statistics.median(raw_rates), statistics.median(rasign_rates)
        results[role] = {
            "mechanism": getattr(mechanism, "name", str(mechanism)),
            "raw_python_pkcs11_per_s": round(raw_median, 1),
            "rasign_per_s": round(rasign_median, 1),
            "ratio": round(rasign_median / raw_median, 3),
        }
        raw_session.close()
        signer.close()
    return results


def sessions_per_credential_process(module, emulator, directory: Path) -> dict:
    """C_OpenSession and C_Login calls of one ``rasign credential-process`` (pkcs11-spy)."""
    from tests.conftest import emulator_args

    log = directory / f"spy-{module.name}.log"
    done = module.rasign(
        "credential-process", "--certificate", module.uri("rsa"), *emulator_args(emulator), "--no-cache", spy_log=log
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module.name}: credential-process failed: {done.stderr.strip()}")
    calls = [line.split(": ")[-1].strip() for line in log.read_text().splitlines()]
    return {"C_OpenSession": calls.count("C_OpenSession"), "C_Login": calls.count("C_Login")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each timed round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per loop (alternating)")
    parser.add_argument(
        "--modules", default=",".join(ALL_MODULES), help="comma-separated subset of " + ", ".join(ALL_MODULES)
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: measure one module (JSON spec)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return 0

    sys.path.insert(0, str(REPO))
    from rasign.emulator import Emulator
    from tests.p11modules import modules as m
    from tests.support.pki import Pki

    wanted = [name for name in args.modules.split(",") if name]
    unknown = set(wanted) - set(ALL_MODULES)
    if unknown:
        parser.error(f"unknown module(s): {', '.join(sorted(unknown))}")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rasign-p11bench-") as scratch:
        root = Path(scratch)
        pki = Pki(directory=root)
        emulator = Emulator(trust_anchor_pems=[pki.root_pem], region="us-east-1")
        emulator.start()
        up: dict[str, m.Module] = {}
        try:
            for name in wanted:
                try:
                    if name == "p11kit_remote":
                        backing = up.get("softhsm") or m.softhsm(pki, root / "softhsm-backing")
                        up[name] = m.p11kit_remote(pki, root / name, backing)
                    else:
                        up[name] = getattr(m, name)(pki, root / name)
                except m.Unavailable as err:
                    results[name] = {"skipped": str(err)}
                    print(f"{name:15s} skipped: {err}", file=sys.stderr)
                    continue
                module = up[name]
                roles = [r for r in ("rsa", "ec") if r in module.objects]
                init = (
                    module.args[module.args.index("--pkcs11-init-args") + 1]
                    if "--pkcs11-init-args" in module.args
                    else None
                )
                spec = {
                    "library": module.library,
                    "init_args": init,
                    "token": module.token,
                    "seconds": args.seconds,
                    "rounds": args.rounds,
                    "uris": {r: module.uri(r) for r in roles},
                    "labels": {r: module.objects[r] for r in roles},
                }
                done = module.python(str(Path(__file__).resolve()), "--child", json.dumps(spec), timeout=600)
                if done.returncode != 0:
                    raise RuntimeError(f"{name}: measuring failed: {done.stderr.strip()[-800:]}")
                entry = {
                    "keys": json.loads(done.stdout.strip().splitlines()[-1]),
                    "per_credential_process": sessions_per_credential_process(module, emulator, root),
                }
                results[name] = entry
                for role, figures in entry["keys"].items():
                    print(
                        f"{name:15s} {role:4s} {figures['mechanism']:16s}"
                        f" raw {figures['raw_python_pkcs11_per_s']:9.1f}/s   rasign {figures['rasign_per_s']:9.1f}/s   ratio {figures['ratio']:.3f}"
                    )
                sessions = entry["per_credential_process"]
                print(
                    f"{name:15s} credential-process: {sessions['C_OpenSession']} C_OpenSession,"
                    f" {sessions['C_Login']} C_Login"
                )
        finally:
            for module in up.values():
                module.daemons.stop()
            emulator.stop()
    print(json.dumps(results))
    ratios = [f["ratio"] for r in results.values() for f in r.get("keys", {}).values()]
    one_session = all(r["per_credential_process"]["C_OpenSession"] == 1 for r in results.values() if "keys" in r)
    return 0 if ratios and all(x >= 0.9 for x in ratios) and one_session else 1


if __name__ == "__main__":
    raise SystemExit(main())
