"""Fixtures for the emulator's own tests: a private PKI and emulators that trust it.

The fixture names start with ``emu`` so they never shadow the project-wide ``emulator``
fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rasign.emulator import Emulator
from tests.emulator.factory import Ca, make_ca, make_leaf, new_key


@pytest.fixture(scope="session")
def emu_root() -> Ca:
    return make_ca("emulator test root")


@pytest.fixture(scope="session")
def emu_intermediate(emu_root: Ca) -> Ca:
    return make_ca("emulator test intermediate", emu_root)


@pytest.fixture(scope="session")
def emu(emu_root: Ca) -> Iterator[Emulator]:
    """A shared emulator with default profile rules (no session names, 3600 s)."""
    with Emulator([emu_root.pem], region="us-east-1", extra_roles=["second-role"]) as emulator:
        yield emulator


@pytest.fixture
def fresh_emu(emu_root: Ca) -> Iterator[Emulator]:
    """A private emulator for tests that change its state (faults, clock)."""
    with Emulator([emu_root.pem], region="us-east-1") as emulator:
        yield emulator


@pytest.fixture(scope="session")
def p256_identity(emu_root: Ca) -> tuple[Any, Any]:
    """(certificate, private key) issued directly by the root."""
    key = new_key("p256")
    return make_leaf(emu_root, key), key


@pytest.fixture(scope="session")
def issued_credentials(emu: Emulator, p256_identity: tuple[Any, Any]) -> Any:
    """One credential set from the shared emulator, for STS tests."""
    from tests.support.emulator_client import prepare_create_session, send

    cert, key = p256_identity
    response = send(prepare_create_session(emu, cert, key), emu.ca_bundle)
    assert response.status_code == 201, response.text
    access_key = response.json()["credentialSet"][0]["credentials"]["accessKeyId"]
    return next(c for c in emu.issued if c.access_key_id == access_key)
