"""A private pcscd with one vpcd reader, in its own mount and network namespaces.

pcsc-lite's clients find the daemon through the compiled-in socket ``/run/pcscd/pcscd.comm``
(``PCSCLITE_CSOCK_NAME`` does not reach every client library), so the daemon gets a private
tmpfs ``/run`` inside ``unshare --mount`` and every client runs in that mount namespace via
``nsenter --mount`` (clients keep the host's network, so they still reach the emulator on
loopback). The private network namespace holds only a loopback interface: vpcd's listener
binds INADDR_ANY, and there that means loopback only. Nothing of the host's /run, nor a
host pcscd, is touched. Needs root.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
READER_NAME = "Yubico YubiKey OTP+FIDO+CCID"
"""ykcs11 ignores readers whose name lacks "Yubico"; this is what a YubiKey 5 calls itself."""


def missing() -> str | None:
    """Why a private pcscd cannot run here, or None."""
    for tool in ("pcscd", "unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install pcscd util-linux)"
    if not os.path.exists(VPCD_DRIVER):
        return "vpcd reader driver not installed (apt-get install vsmartcard-vpcd)"
    if os.geteuid() != 0:
        return "a private pcscd needs root (mount namespace with a private /run)"
    probe = subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot make private mount/network namespaces here (CAP_SYS_ADMIN): {probe.stderr.strip()}"
    return None


class PrivatePcscd:
    """pcscd in a private mount namespace, with a vpcd reader that connects to ``port``."""

    def __init__(self, directory: Path, port: int = 35963, reader_name: str = READER_NAME) -> None:
        self.directory = Path(directory)
        self.port = port
        self.reader_name = reader_name
        self.process: subprocess.Popen | None = None
        self.log = self.directory / "pcscd.log"

    def start(self, timeout: float = 20.0) -> PrivatePcscd:
        conf = self.directory / "reader.conf.d"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "virtualpiv").write_text(
            f'FRIENDLYNAME "{self.reader_name}"\n'
            f"DEVICENAME   /dev/null:{self.port}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {self.port}\n"
        )
        script = 'mount -t tmpfs -o mode=0755 virtualpiv-run /run && exec pcscd --foreground --config "$1"'
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script, "sh", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pcscd exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            probe = subprocess.run(self.wrap(["test", "-S", "/run/pcscd/pcscd.comm"]), check=False)
            if probe.returncode == 0:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("pcscd did not create its socket in time")

    @property
    def netns(self) -> str:
        """The network namespace the card's thread must join to reach vpcd."""
        if self.process is None:
            raise RuntimeError("pcscd is not running")
        return f"/proc/{self.process.pid}/ns/net"

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` as a command that runs in pcscd's namespace (sees its private /run)."""
        if self.process is None:
            raise RuntimeError("pcscd is not running")
        return ["nsenter", f"--target={self.process.pid}", "--mount", "--", *argv]

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("timeout", 120)
        kwargs.setdefault("check", False)
        return subprocess.run(self.wrap(argv), **kwargs)

    def stop(self) -> None:
        """Stop pcscd by its PID (the namespace goes with it)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
