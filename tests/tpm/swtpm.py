"""A real swtpm per test run: start, reset dictionary-attack limits, restart, stop by PID.

Both transports rasign must handle are offered: TCP (``swtpm:port=N``) and a unix
socket (``swtpm:path=DIR/sock``, with the control socket at ``DIR/sock.ctrl`` where
tcti-swtpm looks for it). State lives in a temporary directory, so restarting with the
same directory behaves like a TPM reset on a machine: persistent keys survive,
transient objects and sessions are gone.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port_pair() -> int:
    """A port P such that P and P+1 can be bound now (swtpm needs both).

    Ports come from a random draw outside the usual ephemeral range, and the probe uses
    SO_REUSEADDR like swtpm does, so ports left in TIME_WAIT by earlier clients count
    as free (they are, for a listening server).
    """
    for _ in range(200):
        port = random.randrange(20000, 32000, 2)
        try:
            for candidate in (port, port + 1):
                with socket.socket() as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for swtpm")


@dataclass
class Swtpm:
    """One swtpm process over TCP, a unix socket with its control socket ("unix"), or a
    bare unix socket as the Go helper's tests use it ("unixraw"), with its state directory."""

    directory: Path
    transport: str = "tcp"
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def state_dir(self) -> Path:
        return self.directory / "state"

    @property
    def socket_path(self) -> Path:
        return self.directory / "sock"

    @property
    def tcti(self) -> str:
        if self.transport == "tcp":
            return f"swtpm:port={self.port}"
        if self.transport == "unixraw":
            return f"rawsocket:{self.socket_path}"
        return f"swtpm:path={self.socket_path}"

    @property
    def tool_env(self) -> dict[str, str]:
        """Environment for tpm2-tools and the tpm2 OpenSSL provider."""
        return {"TPM2TOOLS_TCTI": self.tcti, "TPM2OPENSSL_TCTI": self.tcti, "TSS2_LOG": "all+NONE"}

    def start(self) -> Swtpm:
        """Start and wait until it answers; a TCP port lost to a race is re-drawn (fresh ports only)."""
        fixed_port = bool(self.port)
        for attempt in range(5):
            try:
                return self._start_once()
            except RuntimeError:
                self.stop()
                if attempt == 4:
                    raise
                if self.transport == "tcp" and not fixed_port:
                    self.port = 0
                time.sleep(0.1 * (attempt + 1))
        raise RuntimeError("unreachable")

    def _start_once(self) -> Swtpm:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.transport == "tcp":
            if not self.port:
                self.port = free_port_pair()
            server = [f"type=tcp,port={self.port}", f"type=tcp,port={self.port + 1}"]
        else:
            for path in (self.socket_path, Path(f"{self.socket_path}.ctrl")):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            server = [f"type=unixio,path={self.socket_path}", f"type=unixio,path={self.socket_path}.ctrl"]
        control = ["--ctrl", server[1]] if self.transport != "unixraw" else []
        with open(self.directory / "swtpm.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    "swtpm",
                    "socket",
                    "--tpm2",
                    "--server",
                    server[0],
                    *control,
                    "--tpmstate",
                    f"dir={self.state_dir}",
                    "--flags",
                    "not-need-init,startup-clear",
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._wait_ready()
        self.reset_dictionary_attack()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"swtpm exited with {self.process.returncode}; see {self.directory / 'swtpm.log'}")
            try:
                if self.transport == "tcp":
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return
                elif self.socket_path.exists():
                    with socket.socket(socket.AF_UNIX) as probe:
                        probe.connect(str(self.socket_path))
                        return
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("swtpm did not start listening within 10 s")

    def stop(self) -> None:
        """Stop this swtpm by its PID (never by name)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        """Stop and start on the same state and port: the TPM sees a reset (Startup CLEAR)."""
        self.stop()
        self.start()

    @contextlib.contextmanager
    def esapi(self) -> Iterator[Any]:
        """A short-lived ESAPI connection."""
        os.environ.setdefault("TSS2_LOG", "all+NONE")
        from tpm2_pytss import ESAPI

        if self.transport == "unixraw":  # no control socket: only rasign's raw TCTI reaches it
            from rasign.backends.tpm.rawsocket import make_raw_socket_tcti

            esys = ESAPI(make_raw_socket_tcti(str(self.socket_path)))
        else:
            esys = ESAPI(self.tcti)
        try:
            yield esys
        finally:
            esys.close()

    def reset_dictionary_attack(self) -> None:
        """Lift swtpm's default 3-tries lockout so wrong-password tests cannot lock it.

        The recovery time stays non-zero: zero would switch DA counting off, and the
        tests read the counter to prove a wrong password was tried only once.
        """
        from tpm2_pytss import ESYS_TR

        with self.esapi() as esys:
            esys.dictionary_attack_parameters(1000, 1000, 0, ESYS_TR.LOCKOUT)
            esys.dictionary_attack_lock_reset(ESYS_TR.LOCKOUT)

    def transient_handles(self) -> list[int]:
        """Transient objects currently loaded (any left over is a leak)."""
        return self._handles("TRANSIENT_FIRST")

    def loaded_sessions(self) -> list[int]:
        """Sessions currently loaded (a policy session left behind is a leak too)."""
        return self._handles("LOADED_SESSION_FIRST")

    def _handles(self, first: str) -> list[int]:
        from tpm2_pytss import TPM2_CAP, TPM2_HC

        with self.esapi() as esys:
            _, data = esys.get_capability(TPM2_CAP.HANDLES, getattr(TPM2_HC, first), 16)
            handles = data.data.handles
            return [int(handles.handle[i]) for i in range(handles.count)]

    def run_tool(self, *args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run tpm2-tools / openssl against this TPM."""
        env = {**os.environ, **self.tool_env}
        result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result


def tools_missing() -> list[str]:
    """Which of the external programs these tests need are not installed."""
    needed = ["swtpm", "tpm2_createprimary", "tpm2_evictcontrol", "openssl"]
    missing = [tool for tool in needed if shutil.which(tool) is None]
    try:
        import tpm2_pytss  # noqa: F401
    except ImportError:
        missing.append("tpm2-pytss")
    return missing


def openssl_has_tpm2_provider(tpm: Swtpm) -> bool:
    """The tpm2 provider loads only when it can reach a TPM, hence ``tpm``."""
    result = tpm.run_tool("openssl", "list", "-providers", "-provider", "tpm2", check=False)
    return result.returncode == 0 and "tpm2" in result.stdout.lower()
