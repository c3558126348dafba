"""Fixtures for the transport tests: TLS files, a signer, session options, and a real tinyproxy.

No test here may see the host's proxy settings: every proxy variable is removed first, and a
test sets the ones it means.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rasign.emulator.tls import TlsFiles, make_tls_files
from rasign.options import SessionOptions, SignerOptions
from tests.support.flags import emulator_options

PROXY_VARIABLES = [f"{scheme}_proxy" for scheme in ("http", "https", "all", "no")]


@pytest.fixture(autouse=True)
def _no_host_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a server certificate for 127.0.0.1 (and localhost)."""
    return make_tls_files(str(tmp_path_factory.mktemp("transport-tls")))


@pytest.fixture
def signer(pki, tmp_path):
    from rasign.workflow import open_signer_checked

    cert, key = pki.software_identity("ec", stem="transport")
    opened = open_signer_checked(SignerOptions(certificate=str(cert), private_key=str(key)))
    yield opened
    opened.close()


def session_options(emulator, **overrides) -> SessionOptions:
    values = dict(
        **emulator_options(emulator),
        max_attempts=1,
        connect_timeout=5.0,
        read_timeout=5.0,
    )
    values.update(overrides)
    return SessionOptions(**values)


@dataclass
class Tinyproxy:
    """A running tinyproxy on a loopback port, with its log file."""

    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connects(self) -> list[str]:
        """The CONNECT requests tinyproxy logged."""
        return [line for line in self.log.read_text(errors="replace").splitlines() if "): CONNECT " in line]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_tinyproxy(
    directory: Path, *, basic_auth: tuple[str, str] | None = None
) -> tuple[subprocess.Popen, Tinyproxy]:
    binary = shutil.which("tinyproxy")
    if binary is None:
        pytest.skip("tinyproxy is not installed (scripts/bootstrap.sh installs tinyproxy-bin)")
    port = _free_port()
    log = directory / "tinyproxy.log"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        "MaxClients 20",
        "LogLevel Info",
        f'LogFile "{log}"',
        "Allow 127.0.0.1",
        "DisableViaHeader Yes",
    ]
    if basic_auth:
        lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
    config = directory / "tinyproxy.conf"
    config.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait for the listening socket, not for a fixed time
        if process.poll() is not None:
            raise RuntimeError(f"tinyproxy did not start: {process.stderr.read().decode(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, Tinyproxy(port, log)
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError("tinyproxy did not listen within 10 s")


@pytest.fixture(scope="module")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    process, proxy = start_tinyproxy(tmp_path_factory.mktemp("tinyproxy"))
    yield proxy
    process.terminate()
    process.wait(timeout=10)


PROXY_USER, PROXY_PASSWORD = "alice", "Tr0ub4dor3xyz"


@pytest.fixture(scope="module")
def tinyproxy_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    process, proxy = start_tinyproxy(tmp_path_factory.mktemp("tinyproxy-auth"), basic_auth=(PROXY_USER, PROXY_PASSWORD))
    yield proxy
    process.terminate()
    process.wait(timeout=10)
