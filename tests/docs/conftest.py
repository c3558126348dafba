"""Fixtures for the docs tests: the emulator the examples talk to, SoftHSM and a TPM.

The SoftHSM tokens are the PKCS#11 area's (provisioned once per run); the TPM is a swtpm
of its own, so examples that make persistent keys cannot collide with the TPM tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pkcs11.conftest import hsm  # noqa: F401 - re-exported fixture
from tests.tpm.swtpm import Swtpm, openssl_has_tpm2_provider, tools_missing


@pytest.fixture(scope="session")
def docs_emulator(pki):
    """The emulator for the documented account, region and ARNs (tests/docs/sandbox.py)."""
    from rasign.emulator import Emulator
    from tests.docs.sandbox import ACCOUNT, DOC_ARNS, REGION

    emulator = Emulator([], region=REGION, account_id=ACCOUNT, role_name=DOC_ARNS["role"].rsplit("/", 1)[1])
    emulator.add_trust_anchor(pki.root_pem, "docs", arn=DOC_ARNS["trust_anchor"])
    emulator.add_profile("docs", [emulator.role_arn], arn=DOC_ARNS["profile"], accept_role_session_name=True)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def docs_tpm(tmp_path_factory) -> Iterator[Swtpm]:
    """A software TPM for the TPM page's examples, with tpm2-tools and tpm2-openssl."""
    import os

    missing = tools_missing()
    if missing and not os.environ.get("CI"):
        pytest.skip(f"TPM tools missing: {', '.join(missing)}")
    instance = Swtpm(tmp_path_factory.mktemp("docs-tpm"), transport="tcp").start()
    try:
        if not openssl_has_tpm2_provider(instance):
            pytest.skip("the tpm2 OpenSSL provider (tpm2-openssl) is not installed")
        yield instance
    finally:
        instance.stop()
