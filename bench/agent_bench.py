"""Benchmark for issue 13: how fast does a running ``rasign agent`` answer?

In one run, against the local emulator and a file identity:

1. ``rasign credential-process`` answered by the agent ÷ ``python -c pass`` (each a new
   process, interleaved; goal ≤ 1.5);
2. the agent under load: ``--clients`` concurrent clients (default 32) sending credential
   requests over the socket, as the fast path does: answers per second (goal ≥ 2,000),
   median and p99 latency (goal ≤ 10 ms), the agent's CPU time per answer, and its RSS
   after 10,000 and after ``--answers`` (default 100,000) more answers (goal ≤ 60 MB, no
   growth).

How the load is generated, and why it is fair: ``--generators`` processes (default 1) each
drive their share of the ``--clients`` connections from one ``epoll`` loop. Every client
does exactly what ``rasign credential-process`` does through :mod:`rasign.agent.client`
when an agent runs: a new unix socket, connect, send the same request bytes (the JSON line
:func:`rasign.agent.client.credential_process` builds: ``op``, the ``credential-process``
arguments, the working directory, :func:`rasign.agent.protocol.client_environment`, and
``tty`` false as under the AWS CLI), read the answer up to its newline, close; then it
starts the next request at once (a closed loop: no think time). Latency runs from before
``socket()`` to after ``close()``, so it includes the generator's own scheduling delay and
is, if anything, pessimistic. The earlier generator, one Python process per client (32
processes on a 2-core machine), spent more CPU than the agent and dominated the figures;
one process multiplexing non-blocking sockets leaves the second core to the agent. By
Little's law, 32 closed-loop clients see a mean latency of 32 ÷ throughput.

Run: ``.venv/bin/python bench/agent_bench.py [--answers N] [--clients N] [--generators N] [--runs N]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _timing import walls  # noqa: E402

from tests.support.flags import emulator_args  # noqa: E402


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _open(sock: str, message: bytes) -> socket.socket:
    """One client's connection with its request sent (what the real client's connect + sendall do)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(sock)  # blocking, like the client's: instant while the backlog has room
    except OSError:
        connection.close()
        raise
    connection.setblocking(False)
    connection.sendall(message)  # a few KiB: fits in the socket buffer at once
    return connection


def _drive(sock: str, message: bytes, clients: int, count: int, out: Connection) -> None:
    """``clients`` closed-loop clients on one epoll loop until ``count`` answers; sends back latencies."""
    poller = select.epoll()
    active: dict[int, tuple[socket.socket, float, bytearray]] = {}
    latencies: list[float] = []
    started = 0

    def begin() -> None:
        nonlocal started
        started += 1
        start = time.perf_counter()
        connection = _open(sock, message)
        active[connection.fileno()] = (connection, start, bytearray())
        poller.register(connection.fileno(), select.EPOLLIN)

    for _ in range(min(clients, count)):
        begin()
    while active:
        for fd, _events in poller.poll():
            connection, start, answer = active[fd]
            data = connection.recv(65536)
            answer += data
            if data and not data.endswith(b"\n"):
                continue  # the rest of the line is on its way
            poller.unregister(fd)
            del active[fd]
            connection.close()
            latencies.append(time.perf_counter() - start)
            if not answer.startswith(b'{"ok":true'):
                out.send(f"bad answer: {bytes(answer[:200])!r}")
                return
            if started < count:
                begin()
    out.send(latencies)


def _load(sock: str, message: bytes, clients: int, answers: int, generators: int) -> tuple[float, list[float]]:
    """Run the load; returns (elapsed seconds, every answer's latency)."""
    generators = max(1, min(generators, clients))
    pipes = [multiprocessing.Pipe(duplex=False) for _ in range(generators)]
    workers = [
        multiprocessing.Process(
            target=_drive,
            args=(
                sock,
                message,
                clients // generators + (i < clients % generators),
                answers // generators,
                pipes[i][1],
            ),
        )
        for i in range(generators)
    ]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    for receiving, _sending in pipes:
        got = receiving.recv()
        if isinstance(got, str):
            raise SystemExit(got)
        latencies.extend(got)
    elapsed = time.perf_counter() - start
    for worker in workers:
        worker.join()
    return elapsed, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--generators", type=int, default=1, help="load-generating processes")
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
                *emulator_args(emulator),
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
            _load(sock, message, args.clients, 10_000, args.generators)
            rss_10k = _rss_mb(agent.pid)
            cpu_before = _cpu_seconds(agent.pid)
            elapsed, latencies = _load(sock, message, args.clients, args.answers, args.generators)
            agent_cpu = _cpu_seconds(agent.pid) - cpu_before
            rss_end = _rss_mb(agent.pid)
            latencies.sort()
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            print(
                f"{args.clients} clients from {args.generators} generator process(es):"
                f" {len(latencies) / elapsed:,.0f} answers/s (goal >= 2,000),"
                f" median {statistics.median(latencies) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms (goal <= 10),"
                f" agent CPU {agent_cpu / len(latencies) * 1e6:.0f} us per answer"
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
