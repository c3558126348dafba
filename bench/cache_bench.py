"""Benchmark for issue 5: how cheap is a credential-process cache hit?

Reports, in one run on this machine, the median wall time of:

1. ``python -c pass`` (the floor for any Python program: the baseline);
2. ``rasign credential-process --cache`` answering from the cache (goal: <= 3 x baseline);
3. ``rasign credential-process --no-cache`` (a fresh CreateSession against the local
   emulator), for reference.

Commands run interleaved round-robin so a busy patch of the machine hits all alike.

Run: ``.venv/bin/python bench/cache_bench.py [--runs N]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _timing import walls
from _world import world


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with world("rasign-cache-bench-", cache=True) as bench:
        env, emu, py = bench.env, bench.emulator, sys.executable
        base = bench.rasign("credential-process")
        subprocess.run([*base, "--cache"], check=True, capture_output=True, env=env)  # fill the cache
        before = emu.create_session_count
        timings = walls(
            {"baseline": [py, "-c", "pass"], "hit": [*base, "--cache"], "miss": [*base, "--no-cache"]}, args.runs, env
        )
        minted = emu.create_session_count - before
    baseline, hit, miss = timings["baseline"], timings["hit"], timings["miss"]
    print(
        f"runs per figure: {args.runs} (median); CreateSession calls during timing: {minted}"
        f" (all from --no-cache runs: {args.runs + 1})"
    )
    print(f"baseline  python -c pass:                        {baseline * 1000:7.1f} ms")
    print(
        f"rasign    credential-process --cache (hit):      {hit * 1000:7.1f} ms  ratio {hit / baseline:.2f} (goal <= 3)"
    )
    print(f"rasign    credential-process --no-cache (mint):  {miss * 1000:7.1f} ms  ratio {miss / baseline:.2f}")
    print(f"cache hit / fresh mint: {hit / miss:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
