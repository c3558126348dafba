"""Session fixtures for the PKCS#11 module matrix: one instance of each module per test run.

``MODULES`` names the fixtures the matrix is parametrised over. A new module (the virtual
PIV card through ykcs11 or OpenSC, a vendor HSM) is one fixture below that returns a
:class:`tests.p11modules.modules.Module` and stops its daemons at teardown, plus its name
in ``MODULES``; see the docstring of modules.py for what the Module must describe.
"""

from __future__ import annotations

import pytest

from tests.p11modules import modules as m


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "p11modules: runs on the real PKCS#11 modules of the matrix")


MODULES = ("softhsm", "p11kit_remote", "tpm2_pkcs11", "opencryptoki", "nss_softokn")


def _bring_up(make, *args):
    """Yield the module ``make(*args)`` brings up and stop its daemons afterwards; skip where unavailable."""
    try:
        module = make(*args)
    except m.Unavailable as err:
        pytest.skip(f"module not available on this machine: {err}")
    yield module
    module.daemons.stop()


@pytest.fixture(scope="session")
def softhsm_module(pki, tmp_path_factory):
    yield from _bring_up(m.softhsm, pki, tmp_path_factory.mktemp("m-softhsm"))


@pytest.fixture(scope="session")
def p11kit_remote_module(pki, tmp_path_factory, softhsm_module):
    yield from _bring_up(m.p11kit_remote, pki, tmp_path_factory.mktemp("m-p11kit"), softhsm_module)


@pytest.fixture(scope="session")
def tpm2_pkcs11_module(pki, tmp_path_factory):
    yield from _bring_up(m.tpm2_pkcs11, pki, tmp_path_factory.mktemp("m-tpm2"))


@pytest.fixture(scope="session")
def opencryptoki_module(pki, tmp_path_factory):
    yield from _bring_up(m.opencryptoki, pki, tmp_path_factory.mktemp("m-ock"))


@pytest.fixture(scope="session")
def nss_softokn_module(pki, tmp_path_factory):
    yield from _bring_up(m.nss_softokn, pki, tmp_path_factory.mktemp("m-nss"))


@pytest.fixture(params=MODULES)
def module(request) -> m.Module:
    """Each module of the matrix in turn (tests parametrised over it run once per module)."""
    return request.getfixturevalue(f"{request.param}_module")
