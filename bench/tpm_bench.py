"""TPM backend throughput on swtpm: rasign's long-running signer against a raw tpm2-pytss loop.

Run from the repository root::

    .venv/bin/python bench/tpm_bench.py [--seconds 2] [--rounds 3]

For RSA-2048 and P-256 keys (TSS2 files made with tpm2-pytss on a fresh swtpm) it
measures, in the same run and alternating round by round so that machine noise hits
both sides alike:

- raw: ESAPI with the key loaded once, then hash + ``esys.sign`` in a loop (the ceiling)
- rasign: ``open_signer()`` once, then ``signer.sign(message)`` in a loop (what
  ``serve``/``update`` do between refreshes)

and reports signatures per second, the rasign/raw ratio (median of the per-round
ratios; goal >= 0.9), and the one-shot
cost that credential-process pays per call: open (connect, re-create the parent, load)
+ sign + close (flush), in-process and for the raw equivalent, plus the wall time of a
whole ``rasign sign-string`` process.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TSS2_LOG", "all+NONE")

from tests.tpm.swtpm import Swtpm


def make_key(tpm: Swtpm, kind: str, path: Path) -> Path:
    from tpm2_pytss.tsskey import TSSPrivKey

    with tpm.esapi() as esys:
        key = TSSPrivKey.create_rsa(esys, 2048) if kind == "rsa" else TSSPrivKey.create_ecc(esys)
    path.write_bytes(key.to_pem())
    return path


def raw_signing(esys: Any, key_path: Path, kind: str) -> tuple[Any, Any, Any]:
    """Load the key with plain tpm2-pytss: (handle, SHA-256 signing scheme, NULL hash-check ticket)."""
    from tpm2_pytss import TPM2_ALG, TPM2_RH, TPM2_ST, TPMT_SIG_SCHEME, TPMT_TK_HASHCHECK
    from tpm2_pytss.tsskey import TSSPrivKey

    handle = TSSPrivKey.from_pem(key_path.read_bytes()).load(esys)
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.RSASSA if kind == "rsa" else TPM2_ALG.ECDSA)
    scheme.details.any.hashAlg = TPM2_ALG.SHA256
    return handle, scheme, TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)


def interleaved(tpm: Swtpm, key_path: Path, kind: str, seconds: float) -> tuple[float, float]:
    """Signatures per second for (raw, rasign), one of each in turn.

    Both keep their key loaded on the same swtpm (which accepts several connections), and
    each iteration times one raw ``esys.sign`` and one ``signer.sign``: load from other
    processes on a shared machine then hits both sides alike. rasign's signer is opened
    first, so that it still sees room in the TPM and keeps its key loaded, as in serve.
    """
    from tpm2_pytss import ESAPI

    from rasign.options import SignerOptions
    from rasign.registry import open_signer

    with open_signer(SignerOptions(private_key=str(key_path), tpm_tcti=tpm.tcti, interactive=False)) as signer:
        assert signer.keeps_key_loaded
        with ESAPI(tpm.tcti) as esys:
            handle, scheme, ticket = raw_signing(esys, key_path, kind)
            raw_time = our_time = 0.0
            count = 0
            clock = time.perf_counter
            deadline = clock() + 2 * seconds
            while clock() < deadline:
                message = b"message %d" % count
                start = clock()
                esys.sign(handle, hashlib.sha256(message).digest(), scheme, ticket)
                middle = clock()
                signer.sign(message)
                raw_time += middle - start
                our_time += clock() - middle
                count += 1
            esys.flush_context(handle)
    return count / raw_time, count / our_time


def one_shot_rasign(tpm: Swtpm, key_path: Path, repeat: int) -> float:
    from rasign.options import SignerOptions
    from rasign.registry import open_signer

    times = []
    for index in range(repeat):
        start = time.perf_counter()
        with open_signer(SignerOptions(private_key=str(key_path), tpm_tcti=tpm.tcti, interactive=False)) as signer:
            signer.sign(b"one shot %d" % index)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def one_shot_raw(tpm: Swtpm, key_path: Path, kind: str, repeat: int) -> float:
    from tpm2_pytss import ESAPI

    times = []
    for index in range(repeat):
        start = time.perf_counter()
        with ESAPI(tpm.tcti) as esys:
            handle, scheme, ticket = raw_signing(esys, key_path, kind)
            esys.sign(handle, hashlib.sha256(b"one shot %d" % index).digest(), scheme, ticket)
            esys.flush_context(handle)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cli_wall(tpm: Swtpm, key_path: Path, repeat: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "rasign",
                "sign-string",
                "--format",
                "text",
                "--private-key",
                str(key_path),
                "--tpm-tcti",
                tpm.tcti,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.75, help="length of each timed loop")
    parser.add_argument("--rounds", type=int, default=8, help="alternating raw/rasign rounds per key type")
    parser.add_argument("--one-shot", type=int, default=20, help="repetitions of the one-shot measurements")
    parser.add_argument("--transport", choices=("tcp", "unix"), default="tcp")
    args = parser.parse_args()

    failed = False
    with tempfile.TemporaryDirectory(prefix="rasign-tpm-bench-") as directory:
        tpm = Swtpm(Path(directory), transport=args.transport).start()
        try:
            print(
                f"swtpm over {args.transport} ({tpm.tcti}); {args.rounds} rounds of {args.seconds:g} s per side, interleaved"
            )
            print(
                f"{'key':<10} {'raw sig/s':>10} {'rasign sig/s':>13} {'ratio':>6}   {'one-shot raw':>13} {'one-shot rasign':>16} {'CLI sign-string':>16}"
            )
            for kind, label in (("rsa", "RSA-2048"), ("ecc", "P-256")):
                key = make_key(tpm, kind, Path(directory) / f"{kind}.pem")
                raw, ours = [], []
                for _ in range(args.rounds):
                    raw_round, our_round = interleaved(tpm, key, kind, args.seconds)
                    raw.append(raw_round)
                    ours.append(our_round)
                raw_rate, our_rate = statistics.median(raw), statistics.median(ours)
                # Paired rounds: each ratio compares signatures made in turn, so load from
                # other processes on this shared machine cancels out.
                ratio = statistics.median(o / r for o, r in zip(ours, raw, strict=True))
                failed |= ratio < 0.9
                shot_raw = one_shot_raw(tpm, key, kind, args.one_shot)
                shot_ours = one_shot_rasign(tpm, key, args.one_shot)
                cli = cli_wall(tpm, key, max(3, args.one_shot // 4))
                print(
                    f"{label:<10} {raw_rate:>10.0f} {our_rate:>13.0f} {ratio:>6.3f}   {shot_raw * 1000:>10.1f} ms {shot_ours * 1000:>13.1f} ms {cli * 1000:>13.0f} ms"
                )
            leaked = tpm.transient_handles()
            print(f"transient handles left in the TPM: {len(leaked)}")
            failed |= bool(leaked)
        finally:
            tpm.stop()
    print("goal rasign/raw >= 0.9:", "met" if not failed else "NOT met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
