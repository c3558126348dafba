"""Fixtures for the credential delivery tests (serve, update, cache, Python API)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

_counter = itertools.count()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow_refresh: waits for short-lived credentials to expire (~20 s)")


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
