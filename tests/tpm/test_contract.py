"""The TPM backend passes the backend conformance suite on swtpm."""

from __future__ import annotations

import pytest

from rasign.options import SignerOptions
from tests.support.backend_contract import BackendContract, ContractCase

pytestmark = pytest.mark.swtpm


class TestTpmBackendContract(BackendContract):
    @pytest.fixture(params=["openssl_ec", "openssl_rsa", "openssl_ec_password", "handle_ec"])
    def case(self, request, tpm) -> ContractCase:
        identity = request.getfixturevalue(request.param)
        no_password = "--no-tpm-key-password" in identity.extra_args
        options = SignerOptions(
            private_key=identity.key,
            certificate=str(identity.cert),
            tpm_tcti=tpm.tcti,
            tpm_key_password=identity.password,
            no_tpm_key_password=no_password,
            interactive=False,
        )
        # a handle's auth is unknown until the TPM is asked; a key file says it in emptyAuth
        needs_human = identity.password is not None
        return ContractCase(
            "tpm", options, needs_human=needs_human, secrets=(identity.password,) if identity.password else ()
        )
