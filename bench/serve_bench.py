"""Benchmark for issue 5: ``rasign serve`` under 32 concurrent IMDS clients.

Measures, in one run on this machine:

* credential GETs per second and p50/p99 latency with 32 concurrent clients, each on a
  keep-alive connection (what an SDK's connection pool does), token fetched once;
* the same with a new TCP connection per request (the worst case);
* resident memory of the serve process (VmRSS at the end, VmHWM peak);
* a baseline: a bare stdlib ``ThreadingHTTPServer`` answering a fixed body on the same
  machine with the same load generator, i.e. the ceiling for http.server here. The
  ratio rasign / baseline shows what the IMDS logic costs on top of the HTTP layer.

Goals from the issue: >= 2,000 GET/s, p99 <= 20 ms, RSS <= 80 MB.

The load generator is Python too (threads spread over several processes so that it is
not limited by one GIL); on a 2-core machine it competes with the server for CPU, so
the figures are a lower bound of what the server can do.

Run: ``.venv/bin/python bench/serve_bench.py [--seconds S] [--clients N] [--processes P]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ROLE_PATH = "/latest/meta-data/iam/security-credentials"

BASELINE_SERVER = r'''
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
'''


def _client_process(port: int, path: str, threads: int, seconds: float, keepalive: bool, queue,
                    interval: float = 0.0) -> None:
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


def load(port: int, path: str, clients: int, processes: int, seconds: float, keepalive: bool,
         rate: float = 0.0) -> dict:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    interval = clients / rate if rate else 0.0
    procs = [context.Process(target=_client_process, args=(port, path, n, seconds, keepalive, queue, interval))
             for n in per if n]
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


def rss_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    to_mb = lambda text: int(text.split()[0]) / 1024
    return to_mb(fields["VmRSS"]), to_mb(fields["VmHWM"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--processes", type=int, default=4, help="load-generator processes")
    parser.add_argument("--rate", type=float, default=2000.0, help="offered load for the paced p99 figure")
    args = parser.parse_args()

    from rasign.emulator import Emulator
    from tests.support.pki import Pki

    workdir = Path(tempfile.mkdtemp(prefix="rasign-serve-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RASIGN_"))}
    env["PYTHONPATH"] = str(REPO)
    pki = Pki(directory=workdir)
    cert, key = pki.software_identity("ec", stem="bench")
    with Emulator(trust_anchor_pems=[pki.root_pem], region="us-east-1") as emu:
        ready = workdir / "ready.json"
        serve = subprocess.Popen(
            [sys.executable, "-m", "rasign", "serve", "--port", "0", "--ready-file", str(ready),
             "--certificate", str(cert), "--private-key", str(key), "--endpoint", emu.endpoint,
             "--ca-bundle", str(emu.ca_bundle), "--trust-anchor-arn", emu.trust_anchor_arn,
             "--profile-arn", emu.profile_arn, "--role-arn", emu.role_arn],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        baseline = subprocess.Popen([sys.executable, "-c", BASELINE_SERVER], stdout=subprocess.PIPE, text=True,
                                    start_new_session=True)
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
            _, idle_hwm = rss_mb(serve.pid)
            results = {}
            for name, target_port in (("baseline", base_port), ("rasign", port)):
                results[name, True] = load(target_port, path, args.clients, args.processes, args.seconds, True)
                results[name, False] = load(target_port, path, args.clients, args.processes, args.seconds, False)
                results[name, "paced"] = load(target_port, path, args.clients, args.processes, args.seconds, True,
                                              rate=args.rate)
            rss, hwm = rss_mb(serve.pid)
        finally:
            for proc in (serve, baseline):
                proc.send_signal(signal.SIGTERM)
                proc.wait(15)

    print(f"{args.clients} concurrent clients in {args.processes} processes, {args.seconds:.0f} s per figure,"
          f" {os.cpu_count()} CPUs shared by server and load generator")
    for keepalive in (True, False):
        label = "keep-alive connections" if keepalive else "new connection per GET"
        base, ours = results["baseline", keepalive], results["rasign", keepalive]
        print(f"{label}:")
        print(f"  baseline http.server fixed body: {base['rps']:8.0f} GET/s  p50 {base['p50']:5.1f} ms"
              f"  p99 {base['p99']:5.1f} ms  errors {base['errors']}")
        print(f"  rasign serve credentials:        {ours['rps']:8.0f} GET/s  p50 {ours['p50']:5.1f} ms"
              f"  p99 {ours['p99']:5.1f} ms  errors {ours['errors']}")
        print(f"  ratio rasign/baseline: throughput {ours['rps'] / base['rps']:.2f}, p99 {ours['p99'] / base['p99']:.2f}")
    base, ours = results["baseline", "paced"], results["rasign", "paced"]
    print(f"paced at {args.rate:.0f} GET/s offered (keep-alive, latency from the due time):")
    print(f"  baseline http.server fixed body: {base['rps']:8.0f} GET/s  p50 {base['p50']:5.1f} ms"
          f"  p99 {base['p99']:5.1f} ms  errors {base['errors']}")
    print(f"  rasign serve credentials:        {ours['rps']:8.0f} GET/s  p50 {ours['p50']:5.1f} ms"
          f"  p99 {ours['p99']:5.1f} ms  errors {ours['errors']}")
    ka = results["rasign", True]
    print(f"goals: max GET/s {ka['rps']:.0f} (>= 2000: {'met' if ka['rps'] >= 2000 else 'NOT met'}),"
          f" p99 at {args.rate:.0f}/s {ours['p99']:.1f} ms (<= 20: {'met' if ours['p99'] <= 20 else 'NOT met'}),"
          f" p99 at saturation {ka['p99']:.1f} ms")
    print(f"serve RSS: {rss:.1f} MB now, peak {hwm:.1f} MB (idle peak before load {idle_hwm:.1f} MB;"
          f" <= 80: {'met' if hwm <= 80 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
