"""The file backend passes the backend conformance suite."""

from __future__ import annotations

import pytest

from rasign.options import SignerOptions
from tests.support.backend_contract import BackendContract, ContractCase


class TestFileBackendContract(BackendContract):
    @pytest.fixture(params=["ec", "rsa"])
    def case(self, request, pki) -> ContractCase:
        cert, key = pki.software_identity(kind=request.param, stem=f"contract-{request.param}")
        return ContractCase("file", SignerOptions(certificate=str(cert), private_key=str(key)), needs_human=False)
