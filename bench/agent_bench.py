"""Benchmark for issue 13: how fast does a running ``rasign agent`` answer?

In one run, against the local emulator and a file identity:

1. ``rasign credential-process`` answered by the agent ÷ ``python -c pass`` (each a new
   process, interleaved; goal ≤ 1.5);
2. the agent under load: ``--clients`` concurrent clients (default 32, in several
   processes) sending credential requests over the socket, as the fast path does:
   answers per second (goal ≥ 2,000), p99 latency (goal ≤ 10 ms), and the agent's RSS
   after 10,000 and after ``--answers`` (default 100,000) answers (goal ≤ 60 MB, no growth).

Run: ``.venv/bin/python bench/agent_bench.py [--answers N] [--clients N] [--runs N]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _timing import walls  # noqa: E402


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _client(sock: str, message: bytes, count: int, queue: multiprocessing.Queue) -> None:
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(sock)
        connection.sendall(message)
        reader = connection.makefile("rb")
        answer = reader.readline()
        connection.close()
        latencies.append(time.perf_counter() - start)
        if b'"ok":true' not in answer:
            raise SystemExit(f"bad answer: {answer[:200]!r}")
    queue.put(latencies)


def _load(sock: str, message: bytes, clients: int, answers: int) -> tuple[float, list[float]]:
    per_client = max(1, answers // clients)
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_client, args=(sock, message, per_client, queue)) for _ in range(clients)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    for _ in workers:
        latencies.extend(queue.get())
    for worker in workers:
        worker.join()
    return time.perf_counter() - start, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from rasign.emulator import Emulator
    from tests.support.pki import Pki

    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        pki = Pki(directory=root)
        cert, key = pki.software_identity(stem="bench")
        emulator = Emulator(trust_anchor_pems=[pki.root_pem]).start()
        sock_dir = root / "agent"
        sock_dir.mkdir(mode=0o700)
        sock = str(sock_dir / "agent.sock")
        env = dict(os.environ, RASIGN_AGENT_SOCK=sock, PYTHONPATH=str(REPO))
        agent = subprocess.Popen(
            [sys.executable, "-m", "rasign", "agent", "--socket", sock],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not os.path.exists(sock):
                time.sleep(0.01)
            flags = [
                "credential-process",
                "--certificate",
                str(cert),
                "--private-key",
                str(key),
                "--endpoint",
                emulator.endpoint,
                "--ca-bundle",
                str(emulator.ca_bundle),
                "--trust-anchor-arn",
                emulator.trust_anchor_arn,
                "--profile-arn",
                emulator.profile_arn,
                "--role-arn",
                emulator.role_arn,
            ]
            rasign = [str(Path(sys.executable).parent / "rasign"), *flags]
            subprocess.run(rasign, env=env, check=True, capture_output=True)
            cold = walls({"agent": rasign, "python": [sys.executable, "-c", "pass"]}, args.runs, env=env)
            print(
                f"credential-process via agent {cold['agent'] * 1000:.1f} ms, python -c pass {cold['python'] * 1000:.1f} ms,"
                f" ratio {cold['agent'] / cold['python']:.2f} (goal <= 1.5)"
            )

            from rasign.agent import protocol

            message = protocol.encode(
                {
                    "op": "credentials",
                    "argv": flags[1:],
                    "cwd": os.getcwd(),
                    "env": protocol.client_environment(env),
                    "tty": False,
                }
            )
            _load(sock, message, args.clients, 10_000)
            rss_10k = _rss_mb(agent.pid)
            elapsed, latencies = _load(sock, message, args.clients, args.answers)
            rss_end = _rss_mb(agent.pid)
            latencies.sort()
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            print(
                f"{args.clients} clients: {len(latencies) / elapsed:,.0f} answers/s (goal >= 2,000),"
                f" median {statistics.median(latencies) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms (goal <= 10)"
            )
            print(
                f"agent RSS after 10,000 answers {rss_10k:.1f} MB, after {10_000 + len(latencies):,} {rss_end:.1f} MB"
                " (goal <= 60, no growth)"
            )
            status = json.loads(
                subprocess.run(
                    [sys.executable, "-m", "rasign", "agent", "status", "--json", "--socket", sock],
                    env=env,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            print(f"sessions minted during the run: {status[0]['mints']}")
        finally:
            agent.terminate()
            agent.wait(10)
            emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
