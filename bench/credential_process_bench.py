"""Benchmark for issues 2 and 13: how fast does ``credential-process`` get credentials?

Reports, in one run on this machine, each as a ratio against a baseline measured here:

1. cold ``rasign credential-process`` (a new process each time, against the local
   emulator, no cache) ÷ ``python -c "import cryptography.x509, requests"`` — the
   floor for any Python tool that parses a certificate and speaks HTTPS (goal <= 1.1, issue 13;
   it was 1.3 in issue 2);
2. rasign ÷ ``iam-rolesanywhere-session`` (the AWS Labs Python peer) getting credentials
   from the same emulator with the same key, both as a cold process (goal <= 0.5), and
   in-process per call for information.

Run: ``.venv/bin/python bench/credential_process_bench.py [--runs N]``
"""

from __future__ import annotations

import argparse
import sys

from _timing import per_call, walls
from _world import world


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with world("rasign-bench-") as bench:
        env, emu, cert, key, py = bench.env, bench.emulator, bench.cert, bench.key, sys.executable
        rasign_cmd = bench.rasign("credential-process", "--no-cache")
        host = emu.endpoint.split("://", 1)[1]
        iras_code = (
            "from iam_rolesanywhere_session import IAMRolesAnywhereSession as S;"
            f"s=S(profile_arn={emu.profile_arn!r},role_arn={emu.role_arn!r},trust_anchor_arn={emu.trust_anchor_arn!r},"
            f"certificate=open({str(cert)!r},'rb').read(),private_key=open({str(key)!r},'rb').read(),region='us-east-1',"
            f"endpoint={host!r},verify={str(emu.ca_bundle)!r});"
            "c=s.get_refreshable_credentials().get_frozen_credentials();assert c.access_key"
        )
        timings = walls(
            {
                "baseline": [py, "-c", "import cryptography.x509, requests"],
                "rasign": rasign_cmd,
                "iras": [py, "-c", iras_code],
            },
            args.runs,
            env,
        )
        baseline, rasign_cold, iras_cold = timings["baseline"], timings["rasign"], timings["iras"]

        from iam_rolesanywhere_session import IAMRolesAnywhereSession

        from rasign.options import SessionOptions, SignerOptions
        from rasign.workflow import obtain_credentials

        signer_options = SignerOptions(certificate=str(cert), private_key=str(key))
        session_options = SessionOptions(
            role_arn=emu.role_arn,
            profile_arn=emu.profile_arn,
            trust_anchor_arn=emu.trust_anchor_arn,
            endpoint=emu.endpoint,
            ca_bundle=str(emu.ca_bundle),
        )
        rasign_warm = per_call(lambda: obtain_credentials(signer_options, session_options), args.runs)

        def iras_call() -> None:
            session = IAMRolesAnywhereSession(
                profile_arn=emu.profile_arn,
                role_arn=emu.role_arn,
                trust_anchor_arn=emu.trust_anchor_arn,
                certificate=cert.read_bytes(),
                private_key=key.read_bytes(),
                region="us-east-1",
                endpoint=host,
                verify=str(emu.ca_bundle),
            )
            assert session.get_refreshable_credentials().get_frozen_credentials().access_key

        iras_warm = per_call(iras_call, args.runs)
        sessions = emu.create_session_count

    print(f"runs per figure: {args.runs} (median); CreateSession calls served: {sessions}")
    print(f"baseline  python -c 'import cryptography.x509, requests': {baseline * 1000:7.1f} ms")
    print(
        f"rasign    credential-process, cold process:            {rasign_cold * 1000:7.1f} ms  ratio to baseline {rasign_cold / baseline:.2f} (goal <= 1.1)"
    )
    print(f"iam-rolesanywhere-session, cold process:               {iras_cold * 1000:7.1f} ms")
    print(f"rasign / iam-rolesanywhere-session, cold process:      ratio {rasign_cold / iras_cold:.2f} (goal <= 0.5)")
    print(
        f"in-process per call: rasign {rasign_warm * 1000:.1f} ms, iam-rolesanywhere-session {iras_warm * 1000:.1f} ms, ratio {rasign_warm / iras_warm:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
