"""Benchmark for issues 5 and 9: ``rasign serve`` against a bare ``ThreadingHTTPServer``.

Measures, in one run on this machine, with the same load generator for both servers:

* credential GETs per second and p50/p99 latency at 1, 32 and 256 concurrent keep-alive
  clients (what an SDK's connection pool does), token fetched once, against
* a baseline: a bare stdlib ``ThreadingHTTPServer`` answering a fixed body of the same
  size, i.e. what the standard library's HTTP layer costs here with no logic at all.
  Issue 9's goals: GET/s ratio rasign / baseline >= 1.0 at each client count, and p99 at
  256 clients <= the baseline's;
* resident memory and thread count of the serve process with 2,000 idle connections open
  (goal: RSS <= 80 MB), and whether a client is still answered meanwhile.

Rounds are interleaved (baseline, rasign, baseline, rasign, ...) and the median round is
reported, so a busy patch on a shared machine hits both servers alike.

The load generator is ``wrk`` (``apt-get install wrk``; Debian ships it). Without it the
script falls back to a Python generator (threads in several processes), which on a small
machine saturates before either server does; the output says which one ran.

Run: ``.venv/bin/python bench/serve_bench.py [--seconds S] [--rounds R] [--clients 1,32,256]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from _world import world

ROLE_PATH = "/latest/meta-data/iam/security-credentials"

BASELINE_SERVER = r"""
import socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = b'{"AccessKeyId": "ASIAXXXXXXXXXXXXXXXX", "SecretAccessKey": "' + b"s" * 40 + b'", "Token": "' + b"t" * 600 + b'"}\n'
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _ok(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_PUT(self):
        self._ok(b"token")
    def do_GET(self):
        self._ok(BODY)
    def log_message(self, *a):
        pass
class S(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    def get_request(self):
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as rasign does; else Nagle adds 40 ms
        return conn, addr
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def _client_process(
    port: int, path: str, threads: int, seconds: float, keepalive: bool, queue, interval: float = 0.0
) -> None:
    """Run ``threads`` clients for ``seconds``; put (count, errors, latencies) on the queue.

    ``interval`` > 0 paces each client (open loop): requests are due at fixed times and
    latency counts from the due time, so a stalled server cannot hide its stall by
    delaying the next request (no coordinated omission).
    """
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    start_at = time.monotonic() + 0.2
    stop_at = start_at + seconds

    def get_token() -> str:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
        value = conn.getresponse().read().decode()
        conn.close()
        return value

    def client() -> None:
        nonlocal errors
        headers = {"X-aws-ec2-metadata-token": get_token()}
        mine: list[float] = []
        bad = 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < start_at:
            time.sleep(0.001)
        offset = (hash(threading.get_ident()) % 1000) / 1000 * interval
        due = time.perf_counter() + offset
        while True:
            if interval:
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                began = due
                due += interval
            else:
                began = time.perf_counter()
            if time.monotonic() >= stop_at:
                break
            try:
                if not keepalive:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or not body:
                    bad += 1
                if not keepalive:
                    conn.close()
            except OSError:
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            mine.append(time.perf_counter() - began)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put((len(latencies), errors, latencies))


def load(
    port: int, path: str, clients: int, processes: int, seconds: float, keepalive: bool, rate: float = 0.0
) -> dict:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    interval = clients / rate if rate else 0.0
    procs = [
        context.Process(target=_client_process, args=(port, path, n, seconds, keepalive, queue, interval))
        for n in per
        if n
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join()
    latencies = sorted(lat for _, _, lats in results for lat in lats)
    count = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {"rps": count / seconds, "p50": pct(0.50), "p99": pct(0.99), "errors": errors, "requests": count}


def wrk(port: int, path: str, clients: int, seconds: float, token: str, new_connections: bool = False) -> dict:
    """One wrk run: GET/s and latency percentiles (ms); wrk's own threads are capped at 2.

    ``new_connections`` sends ``Connection: close``, so every GET pays for a TCP handshake.
    """
    threads = max(1, min(clients, 2))
    extra = ["-H", "Connection: close"] if new_connections else []
    duration = max(1, math.ceil(seconds))  # wrk takes whole seconds; its rate is per second either way
    result = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(clients),
            "-d",
            f"{duration}s",
            "--latency",
            "--timeout",
            "10s",
            "-H",
            f"X-aws-ec2-metadata-token: {token}",
            *extra,
            f"http://127.0.0.1:{port}{path}",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=duration + 60,
    )
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    percentiles = {
        name: _ms(value, unit)
        for name, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([0-9.]+)(us|ms|s)\s*$", out, re.M)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(errors.group(1)) if errors else 0
    if socket_errors:
        connect, read, write, timeout = (int(value) for value in socket_errors.groups())
        # wrk counts every server-side close as a read error, so with Connection: close they are expected.
        failed += connect + write + timeout + (0 if new_connections else read)
    return {
        "rps": rps,
        "p50": percentiles.get("50", float("nan")),
        "p99": percentiles.get("99", float("nan")),
        "errors": failed,
    }


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def get_token(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
    value = conn.getresponse().read().decode()
    conn.close()
    return value


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def idle_flood(port: int, count: int) -> list[socket.socket]:
    """Open ``count`` idle connections (what a local attacker or a leaky client does)."""
    opened = []
    for _ in range(count):
        opened.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    time.sleep(0.5)  # let the server accept them all
    return opened


def answered_ms(port: int, path: str) -> float:
    """Wall time of a token PUT plus a credential GET on new connections."""
    started = time.perf_counter()
    token = get_token(port)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"X-aws-ec2-metadata-token": token})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200 or b"AccessKeyId" not in body:
        raise SystemExit(f"credential GET failed during the flood: {response.status}")
    return (time.perf_counter() - started) * 1000


def rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()

    def to_mb(text: str) -> float:
        return int(text.split()[0]) / 1024

    return to_mb(fields["VmRSS"]), to_mb(fields["VmHWM"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per figure")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--clients", default="1,32,256", help="comma-separated client counts")
    parser.add_argument("--idle", type=int, default=2000, help="idle connections for the memory figure")
    parser.add_argument("--processes", type=int, default=2, help="load processes of the Python fallback")
    args = parser.parse_args()
    counts = [int(item) for item in args.clients.split(",")]
    have_wrk = shutil.which("wrk") is not None

    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle + 1024)), hard))
    except (ImportError, OSError, ValueError):
        pass
    with world("rasign-serve-bench-", compile_code=False) as bench:
        workdir, env = bench.workdir, bench.env
        ready = workdir / "ready.json"
        serve = subprocess.Popen(
            bench.rasign("serve", "--port", "0", "--ready-file", str(ready)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        baseline = subprocess.Popen(
            [sys.executable, "-c", BASELINE_SERVER],
            stdout=subprocess.PIPE,
            text=True,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base_port = int(baseline.stdout.readline())
            deadline = time.monotonic() + 60
            while not ready.exists():
                if serve.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("serve did not start")
                time.sleep(0.05)
            info = json.loads(ready.read_text())
            port, role = info["port"], info["role_name"]
            path = f"{ROLE_PATH}/{role}"
            token = get_token(port)
            _, idle_hwm = rss_mb(serve.pid)
            samples: dict[tuple[str, int], list[dict]] = {}
            for _ in range(args.rounds):
                for clients in counts:
                    for name, target in (("baseline", base_port), ("rasign", port)):
                        if have_wrk:
                            figure = wrk(target, path, clients, args.seconds, token)
                        else:
                            figure = load(target, path, clients, min(args.processes, clients), args.seconds, True)
                        samples.setdefault((name, clients), []).append(figure)
                if have_wrk:  # the worst case: a new TCP connection for every GET
                    for name, target in (("baseline", base_port), ("rasign", port)):
                        figure = wrk(target, path, 32, args.seconds, token, new_connections=True)
                        samples.setdefault((name, -32), []).append(figure)
            rss_loaded, hwm_loaded = rss_mb(serve.pid)
            flood = idle_flood(port, args.idle)
            try:
                during_ms = answered_ms(port, path)
                rss_flood, hwm_flood = rss_mb(serve.pid)
                threads_flood = threads_of(serve.pid)
                fds = len(os.listdir(f"/proc/{serve.pid}/fd"))
            finally:
                for sock in flood:
                    sock.close()
            base_flood = idle_flood(base_port, args.idle)
            try:
                base_threads = threads_of(baseline.pid)
                base_rss, _ = rss_mb(baseline.pid)
            finally:
                for sock in base_flood:
                    sock.close()
        finally:
            for proc in (serve, baseline):
                proc.send_signal(signal.SIGTERM)
                proc.wait(15)

    def median(name: str, clients: int) -> dict:
        runs = sorted(samples[name, clients], key=lambda figure: figure["rps"])
        return runs[len(runs) // 2]

    generator = "wrk" if have_wrk else "Python fallback generator (install wrk for real figures)"
    print(
        f"load generator: {generator}; {args.seconds:g} s per figure, median of {args.rounds} interleaved rounds;"
        f" {os.cpu_count()} CPUs shared by server and load generator"
    )
    print(
        f"{'clients':>7}  {'baseline GET/s':>14} {'p99 ms':>7}  {'rasign GET/s':>12} {'p99 ms':>7}"
        f"  {'ratio GET/s':>11} {'ratio p99':>9}  errors"
    )
    verdicts = []
    for clients in counts:
        base, ours = median("baseline", clients), median("rasign", clients)
        ratio = ours["rps"] / base["rps"] if base["rps"] else float("nan")
        p99_ratio = ours["p99"] / base["p99"] if base["p99"] else float("nan")
        print(
            f"{clients:>7}  {base['rps']:>14.0f} {base['p99']:>7.2f}  {ours['rps']:>12.0f} {ours['p99']:>7.2f}"
            f"  {ratio:>11.2f} {p99_ratio:>9.2f}  {base['errors']}/{ours['errors']}"
        )
        verdicts.append(f"GET/s ratio at {clients}: {ratio:.2f} ({'met' if ratio >= 1.0 else 'NOT met'})")
        if clients == max(counts) and ("rasign", -32) in samples:
            base_new, ours_new = median("baseline", -32), median("rasign", -32)
            print(
                f"{'32 new':>7}  {base_new['rps']:>14.0f} {base_new['p99']:>7.2f}  {ours_new['rps']:>12.0f}"
                f" {ours_new['p99']:>7.2f}  {ours_new['rps'] / base_new['rps']:>11.2f}"
                f" {ours_new['p99'] / base_new['p99']:>9.2f}  {base_new['errors']}/{ours_new['errors']}"
                "  (Connection: close, a TCP handshake per GET)"
            )
        if clients == max(counts):
            verdicts.append(
                f"p99 at {clients}: {ours['p99']:.2f} ms vs baseline {base['p99']:.2f} ms"
                f" ({'met' if ours['p99'] <= base['p99'] else 'NOT met'})"
            )
    print(
        f"with {args.idle} idle connections open: rasign RSS {rss_flood:.1f} MB (peak {hwm_flood:.1f} MB),"
        f" {threads_flood} threads, {fds} fds, a token PUT + credential GET took {during_ms:.1f} ms;"
        f" baseline {base_threads} threads, RSS {base_rss:.1f} MB"
    )
    verdicts.append(
        f"RSS with {args.idle} idle connections: {hwm_flood:.1f} MB peak ({'met' if hwm_flood <= 80 else 'NOT met'})"
    )
    print(
        f"rasign RSS after load {rss_loaded:.1f} MB (peak {hwm_loaded:.1f} MB, idle peak before load {idle_hwm:.1f} MB)"
    )
    print("goals: " + "; ".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
