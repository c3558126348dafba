"""Fixtures for the PKCS#11 tests: SoftHSM2 tokens provisioned by softhsm/provision.py.

The tokens are made once per test session by openssl + OpenSC's pkcs11-tool (not by
rasign), in a private directory with its own SOFTHSM2_CONF; their certificates are issued
by the shared ``pki`` root so the emulator trusts them. Tests skip (with the reason) when
SoftHSM2, OpenSC or python-pkcs11 is missing.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROVISION = REPO / "softhsm" / "provision.py"
SOFTHSM_MODULES = ("/usr/lib/softhsm/libsofthsm2.so", *glob.glob("/usr/lib/*/softhsm/libsofthsm2.so"))
SPY_MODULES = (
    "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so",
    *glob.glob("/usr/lib/*/pkcs11-spy.so"),
    *glob.glob("/usr/lib/*/pkcs11/pkcs11-spy.so"),
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pkcs11_pty: drives rasign's /dev/tty PIN prompt through a pseudo-terminal")


def _missing() -> str | None:
    for tool in ("softhsm2-util", "pkcs11-tool", "openssl"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install softhsm2 opensc openssl)"
    if not any(os.path.exists(m) for m in SOFTHSM_MODULES):
        return "libsofthsm2.so not found"
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "python-pkcs11 not installed (pip install 'rasign[pkcs11]')"
    return None


@dataclass
class Hsm:
    """What provision.py made: paths, token labels, PINs and the module."""

    root: Path
    manifest: dict
    module: str
    env: dict[str, str]

    def obj(self, token: str, label: str) -> dict:
        return self.manifest["tokens"][token]["objects"][label]

    def cert(self, token: str, label: str, cert_label: str | None = None) -> str:
        return self.obj(token, label)["certificates"][cert_label or label]

    def pin(self, token: str) -> str:
        return self.manifest["tokens"][token]["pin"]

    @property
    def spy(self) -> str | None:
        return next((m for m in SPY_MODULES if os.path.exists(m)), None)


_PROVISIONED: list[Hsm] = []
"""One provisioning per process: other areas import this fixture into their conftest, and
SoftHSM, once initialised in-process, keeps the SOFTHSM2_CONF it first saw."""


@pytest.fixture(scope="session")
def hsm(tmp_path_factory, pki) -> Hsm:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    if _PROVISIONED:
        return _PROVISIONED[0]
    from cryptography.hazmat.primitives import serialization

    root = tmp_path_factory.mktemp("softhsm")
    ca_cert, ca_key = root / "pki-root.pem", root / "pki-root-key.pem"
    ca_cert.write_bytes(pki.root_pem)
    ca_key.write_bytes(
        pki.root.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            str(PROVISION),
            "--dir",
            str(root / "hsm"),
            "--ca-cert",
            str(ca_cert),
            "--ca-key",
            str(ca_key),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((root / "hsm" / "manifest.json").read_text())
    # In-process tests load SoftHSM here; the variable must be set before the first C_Initialize.
    os.environ["SOFTHSM2_CONF"] = manifest["softhsm2_conf"]
    made = Hsm(
        root=root / "hsm",
        manifest=manifest,
        module=manifest["module"],
        env={"SOFTHSM2_CONF": manifest["softhsm2_conf"]},
    )
    _PROVISIONED.append(made)
    return made


@pytest.fixture
def close_all_sessions(hsm):
    """Call the module's own C_CloseAllSessions on a slot: what a pulled token does to us.

    Through ctypes on the already loaded module (dlopen returns the same instance), so the
    signer's session handles really become invalid. Unlike C_Finalize this leaves the
    process's OpenSSL state alone, so TLS clients in the same pytest process keep working.
    """
    import ctypes

    library = ctypes.CDLL(hsm.module)
    library.C_CloseAllSessions.argtypes = [ctypes.c_ulong]
    library.C_CloseAllSessions.restype = ctypes.c_ulong

    def close(slot_id: int) -> None:
        assert library.C_CloseAllSessions(slot_id) == 0

    return close


@pytest.fixture
def options(hsm):
    """Factory for SignerOptions on the SoftHSM module, non-interactive by default."""
    from rasign.options import SignerOptions

    def make(**kwargs) -> SignerOptions:
        kwargs.setdefault("pkcs11_lib", hsm.module)
        kwargs.setdefault("interactive", False)
        return SignerOptions(**kwargs)

    return make
