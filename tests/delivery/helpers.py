"""Helpers for the delivery tests: run ``rasign serve``/``update`` as real processes and
talk to them with a plain HTTP client (no mocks between the client and the server)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import clean_env, emulator_args

TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
ROLE_PATH = "/latest/meta-data/iam/security-credentials"


def identity_args(cert: Path, key: Path) -> list[str]:
    return ["--certificate", str(cert), "--private-key", str(key)]


@dataclass
class Running:
    """A rasign process started in the background with its stderr captured to a file."""

    process: subprocess.Popen
    log_path: Path
    ready: dict = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.ready["port"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise

    def alive(self) -> bool:
        return self.process.poll() is None


def start_rasign(
    command: str, args: list[str], tmp: Path, *, env: dict | None = None, wait_ready: bool = True, timeout: float = 60
) -> Running:
    """Start ``python -m rasign COMMAND ARGS``; for serve, wait for its ready file."""
    log_path = tmp / f"{command}-{time.monotonic_ns()}.log"
    ready_path = tmp / f"ready-{time.monotonic_ns()}.json"
    full = [sys.executable, "-m", "rasign", command, *args]
    if command == "serve":
        full += ["--ready-file", str(ready_path)]
    with open(log_path, "wb") as handle:
        process = subprocess.Popen(
            full, stdout=subprocess.DEVNULL, stderr=handle, env=clean_env(env), start_new_session=True
        )
    running = Running(process, log_path)
    if command == "serve" and wait_ready:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready_path.exists():
                running.ready = json.loads(ready_path.read_text())
                return running
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}:\n{running.log()}")
            time.sleep(0.05)
        running.stop(signal.SIGKILL)
        raise AssertionError(f"serve did not become ready:\n{running.log()}")
    return running


def serve_args(emu, cert: Path, key: Path, *extra: str) -> list[str]:
    return [*identity_args(cert, key), *emulator_args(emu), "--port", "0", *extra]


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket."""

    def __init__(self, path: str, timeout: float = 10) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def request(
    host: str,
    port: int,
    method: str,
    path: str,
    headers: dict | None = None,
    *,
    unix: str | None = None,
    timeout: float = 10,
) -> tuple[int, dict, bytes]:
    """One HTTP request without following redirects: (status, headers, body)."""
    conn = UnixHTTPConnection(unix, timeout) if unix else http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def put_token(
    port: int,
    ttl: str | None = "60",
    host: str = "127.0.0.1",
    path: str = "/latest/api/token",
    headers: dict | None = None,
    unix: str | None = None,
) -> tuple[int, dict, bytes]:
    all_headers = dict(headers or {})
    if ttl is not None:
        all_headers[TOKEN_TTL_HEADER] = ttl
    return request(host, port, "PUT", path, all_headers, unix=unix)


def token(port: int, ttl: str = "60", host: str = "127.0.0.1") -> str:
    status, _, body = put_token(port, ttl, host)
    assert status == 200, body
    return body.decode()


def get_imds(
    port: int,
    path: str,
    token_value: str | None,
    host: str = "127.0.0.1",
    headers: dict | None = None,
    unix: str | None = None,
) -> tuple[int, dict, bytes]:
    all_headers = dict(headers or {})
    if token_value is not None:
        all_headers[TOKEN_HEADER] = token_value
    return request(host, port, "GET", path, all_headers, unix=unix)


def imds_credentials(port: int, role: str, host: str = "127.0.0.1") -> tuple[int, bytes]:
    status, _, body = get_imds(port, f"{ROLE_PATH}/{role}", token(port, host=host), host)
    return status, body


def wait_for(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def aws_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for an SDK client that can only find credentials where the test says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = str(tmp / "no-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp / "no-credentials")
    env.update(extra)
    return env
