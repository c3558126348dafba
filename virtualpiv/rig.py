"""One virtual YubiKey behind a private pcscd, provisioned with the real yubico-piv-tool.

Used by tests/piv (session fixture) and bench/piv_bench.py. Provisioning is what a user does
to a fresh YubiKey: generate RSA-2048 in 9a (PIN once) and P-256 in 9c (PIN always, the
YubiKey default for the signature slot), import a software P-384 key into 9d, then import
certificates issued by the caller's CA for all three. The CA is passed as a callable so this
module does not depend on the tests' PKI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from virtualpiv.card import PivCard
from virtualpiv.pcscd import PrivatePcscd
from virtualpiv.pcscd import missing as pcscd_missing
from virtualpiv.vpcd import VpcdLink

YKCS11 = "/usr/lib/x86_64-linux-gnu/libykcs11.so"
OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
PKCS11_SPY = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so"
PIN = "123456"

Issuer = Callable[[object, Path, str], None]
"""issue(public_key, certificate_path, common_name): writes a PEM certificate for the key."""

SLOTS = {
    "9a": ("RSA2048", "generate", "piv 9a rsa"),
    "9c": ("ECCP256", "generate", "piv 9c p256"),
    "9d": ("ECCP384", "import", "piv 9d p384"),
}


def missing() -> str | None:
    """Why the virtual card cannot run here, or None."""
    reason = pcscd_missing()
    if reason:
        return reason
    if shutil.which("yubico-piv-tool") is None:
        return "yubico-piv-tool not installed (apt-get install yubico-piv-tool)"
    for module, package in ((YKCS11, "ykcs11"), (OPENSC, "opensc")):
        if not os.path.exists(module):
            return f"{module} not found (apt-get install {package})"
    return None


@dataclass
class PivRig:
    """The running card, its pcscd, and what provisioning left on disk."""

    directory: Path
    card: PivCard
    pcscd: PrivatePcscd
    link: VpcdLink
    certificates: dict[str, Path] = field(default_factory=dict)
    public_keys: dict[str, object] = field(default_factory=dict)
    issue: Issuer | None = None
    """The CA callable provisioning used; tests issue certificates for keys they add later."""

    @classmethod
    def start(cls, directory: Path, **card_options) -> PivRig:
        directory.mkdir(parents=True, exist_ok=True)
        card = PivCard(**card_options)
        pcscd = PrivatePcscd(directory / "pcscd").start()
        link = VpcdLink(card, pcscd.netns).start()
        try:
            link.wait_inserted()
        except BaseException:
            pcscd.stop()
            link.stop()
            raise
        return cls(directory, card, pcscd, link)

    def stop(self) -> None:
        """pcscd first: vpcd must not see the card vanish while pcscd still polls it."""
        self.pcscd.stop()
        self.link.stop()

    def env(self) -> dict[str, str]:
        """Environment for module clients: a private HOME so OpenSC's caches stay in the run."""
        home = self.directory / "home"
        home.mkdir(exist_ok=True)
        return {"HOME": str(home)}

    def tool(self, *args: str) -> subprocess.CompletedProcess:
        """Run yubico-piv-tool against the card (default management key), failing loudly."""
        done = self.pcscd.run(
            ["yubico-piv-tool", "--reader=Yubico", *args], text=True, env={**os.environ, **self.env()}
        )
        if done.returncode != 0:
            raise RuntimeError(f"yubico-piv-tool {' '.join(args)} failed: {done.stderr.strip()}")
        return done

    def provision(self, issue: Issuer) -> None:
        """Keys and certificates in 9a, 9c, 9d, plus a CHUID and CCC as a real deployment has."""
        self.issue = issue
        for slot, (algorithm, how, cn) in SLOTS.items():
            if how == "generate":
                public_pem = self.directory / f"{slot}-public.pem"
                self.tool("--action=generate", f"--slot={slot}", f"--algorithm={algorithm}", f"--output={public_pem}")
                public = serialization.load_pem_public_key(public_pem.read_bytes())
            else:
                key = ec.generate_private_key(ec.SECP384R1())
                key_pem = self.directory / f"{slot}-key.pem"
                key_pem.write_bytes(
                    key.private_bytes(
                        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                    )
                )
                self.tool("--action=import-key", f"--slot={slot}", f"--input={key_pem}")
                key_pem.unlink()
                public = key.public_key()
            cert = self.directory / f"{slot}-cert.pem"
            issue(public, cert, cn)
            self.tool("--action=import-certificate", f"--slot={slot}", f"--input={cert}")
            self.certificates[slot] = cert
            self.public_keys[slot] = public
        self.tool("--action=set-chuid")
        self.tool("--action=set-ccc")
