"""Fixtures for the credential delivery tests (serve, update, cache, Python API)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

_counter = itertools.count()


@pytest.fixture
def identity(pki, tmp_path) -> tuple[Path, Path]:
    """A fresh EC key + certificate issued by the session PKI: (cert, key)."""
    return pki.software_identity(stem=f"delivery-{next(_counter)}")


@pytest.fixture
def make_emulator(pki):
    """Factory for private emulators (fault injection must not leak between tests)."""
    from rasign.emulator import Emulator

    started = []

    def make(**options):
        emu = Emulator(trust_anchor_pems=[pki.root_pem], **options).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


# SoftHSM tokens provisioned by softhsm/provision.py (shared with the PKCS#11 area's tests).
from tests.pkcs11.conftest import hsm  # noqa: F401

# swtpm and a tpm2-openssl key with a password (shared with the TPM area's tests).
from tests.tpm.conftest import (  # noqa: F401
    _no_leaked_handles,
    openssl_ec_password,
    openssl_tpm2,
    tpm,
    tpm_dir,
)


@pytest.fixture
def in_process(tmp_path, monkeypatch):
    """Factory: ``in_process(command, argv, clock)`` starts serve/update on a thread (see inprocess.py).

    The environment is cleaned as for a child process (no AWS_/RASIGN_ settings leak in);
    every command still running at the end of the test is stopped.
    """
    import os

    from tests.delivery.inprocess import InProcess

    for name in list(os.environ):
        if name.startswith(("AWS_", "RASIGN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RASIGN_CACHE_DIR", str(tmp_path / "cache"))
    started: list[InProcess] = []

    def start(command: str, argv: list[str], clock) -> InProcess:
        running = InProcess(command, argv, clock, tmp_path).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()
