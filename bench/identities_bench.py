"""Benchmark for issue 12: what do named identities and role chaining cost?

Reports, in one run on this machine, the median wall time of:

1. ``python -c pass`` (the floor for any Python program: the baseline);
2. ``credential-process`` with flags, cold (``--no-cache``: a fresh CreateSession);
3. the same through ``--identity NAME`` (goal: 2 / 1 <= 1.05, the file costs nothing noticeable);
4. ``credential-process --identity CHAINED`` answering from the cache, for an identity that
   chains into a role of a second account (goal: <= 3 x baseline);
5. ``credential-process --cache`` with flags answering from the cache, for reference (what a
   cache hit cost before identities existed).

Commands run interleaved round-robin against the local emulator, so a busy patch of the
machine hits all alike.

Run: ``.venv/bin/python bench/identities_bench.py [--runs N]``
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
    from rasign.emulator.assume_role import add_trusted_role

    with world("rasign-identities-bench-", cache=True) as bench:
        env, emu, cert, key, workdir = bench.env, bench.emulator, bench.cert, bench.key, bench.workdir
        target = add_trusted_role(emu.state, "bench-target", account_id="210987654321", trusted=[emu.role_arn])
        settings = {
            "certificate": cert,
            "private-key": key,
            "trust-anchor-arn": emu.trust_anchor_arn,
            "profile-arn": emu.profile_arn,
            "role-arn": emu.role_arn,
            "endpoint": emu.endpoint,
            "ca-bundle": emu.ca_bundle,
        }
        table = "".join(f'{name} = "{value}"\n' for name, value in settings.items())
        config = workdir / "config.toml"
        config.write_text(
            f"[identity.plain]\n{table}\n[identity.chained]\n{table}"
            f'sts-endpoint = "{emu.sts_endpoint}"\n'
            f'[[identity.chained.chain]]\nrole-arn = "{target}"\n'
        )
        config.chmod(0o600)
        env["RASIGN_CONFIG"] = str(config)
        py = sys.executable
        flags = [py, "-m", "rasign", "credential-process", "--no-cache"]
        for name, value in settings.items():
            flags += [f"--{name}", str(value)]
        named = [py, "-m", "rasign", "credential-process", "--no-cache", "--identity", "plain"]
        chained = [py, "-m", "rasign", "credential-process", "--identity", "chained"]
        flags_hit = [arg for arg in flags if arg != "--no-cache"] + ["--cache"]
        subprocess.run(chained, check=True, capture_output=True, env=env)  # fill the caches
        subprocess.run(flags_hit, check=True, capture_output=True, env=env)
        timings = walls(
            {
                "baseline": [py, "-c", "pass"],
                "flags": flags,
                "identity": named,
                "chained-hit": chained,
                "flags-hit": flags_hit,
            },
            args.runs,
            env,
        )
    baseline, flag_time, named_time, hit = (timings[name] for name in ("baseline", "flags", "identity", "chained-hit"))
    print(f"runs per figure: {args.runs} (median)")
    print(f"baseline  python -c pass:                                {baseline * 1000:7.1f} ms")
    print(f"cold      credential-process with flags:                 {flag_time * 1000:7.1f} ms")
    print(
        f"cold      credential-process --identity plain:           {named_time * 1000:7.1f} ms"
        f"  ratio to flags {named_time / flag_time:.3f} (goal <= 1.05)"
    )
    print(
        f"hit       credential-process --identity chained (cache): {hit * 1000:7.1f} ms"
        f"  ratio to baseline {hit / baseline:.2f} (goal <= 3)"
    )
    print(
        f"hit       credential-process --cache with flags:         {timings['flags-hit'] * 1000:7.1f} ms"
        f"  ratio to baseline {timings['flags-hit'] / baseline:.2f} (reference)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
