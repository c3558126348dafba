"""Fixtures for the virtual-YubiKey tests: one card + private pcscd per test session.

The card (virtualpiv/) is provisioned by the real yubico-piv-tool with certificates issued by
the shared ``pki`` root (so the emulator trusts them), then rasign drives it through the real
ykcs11 and OpenSC modules. Clients run in pcscd's mount namespace (``nsenter``); tests skip
with the reason when pcscd, vpcd, the modules or root are missing.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, clean_env, emulator_args
from virtualpiv.rig import PivRig, missing


@pytest.fixture(scope="session")
def piv(tmp_path_factory, pki) -> PivRig:
    reason = missing()
    if reason:
        pytest.skip(reason)
    rig = PivRig.start(tmp_path_factory.mktemp("virtualpiv"))
    try:
        rig.provision(lambda public, path, cn: pki.issue(public, path, cn=cn))
        yield rig
    finally:
        rig.stop()


@pytest.fixture
def card(piv):
    """The card with an empty APDU log (state, PIN counter and keys carry over between tests)."""
    piv.card.log.clear()
    yield piv.card
    assert piv.card.pin_remaining == piv.card.pin_retries, "a test left the PIN retry counter spent"


def run_in_card_namespace(
    piv: PivRig, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python -m rasign ARGS`` in pcscd's mount namespace, with no controlling terminal."""
    return subprocess.run(
        piv.pcscd.wrap([sys.executable, "-m", "rasign", *args]),
        env=clean_env({**piv.env(), **(env or {})}),
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
        cwd=str(REPO),
    )


def credential_process(piv: PivRig, emulator, *args: str, env: dict[str, str] | None = None):
    return run_in_card_namespace(piv, "credential-process", *args, *emulator_args(emulator), "--no-cache", env=env)
