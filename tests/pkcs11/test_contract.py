"""The PKCS#11 backend passes the backend conformance suite on SoftHSM2."""

from __future__ import annotations

import pytest

from rasign.options import SignerOptions
from tests.support.backend_contract import BackendContract, ContractCase

pytestmark = pytest.mark.softhsm


class TestPkcs11BackendContract(BackendContract):
    @pytest.fixture(params=["rsa-2048", "ec-p256"])
    def case(self, request, hsm, tmp_path) -> ContractCase:
        pin = hsm.pin("rasign-a")
        pin_file = tmp_path / "pin"
        pin_file.write_text(pin + "\n")
        uri = f"pkcs11:token=rasign-a;object={request.param}"
        options = SignerOptions(
            certificate=uri, private_key=uri, pkcs11_lib=hsm.module, pkcs11_pin_file=str(pin_file), interactive=False
        )
        return ContractCase(
            "pkcs11", options, needs_human=True, secrets=(pin,), diagnoses=("pkcs11 module", "pkcs11 token", "pin")
        )
