"""The store backend passes the backend conformance suite: a directory store, and the fake
Windows and macOS stores whose selection logic those platforms share."""

from __future__ import annotations

import pytest

from rasign.backends import store as store_backend
from rasign.options import SignerOptions
from tests.support.backend_contract import BackendContract, ContractCase
from tests.support.fake_store import FakeStore

from .conftest import make_cert


class TestDirectoryStoreContract(BackendContract):
    @pytest.fixture
    def case(self, pki, tmp_path) -> ContractCase:
        from tests.support.pki import key_pem, new_key

        directory = tmp_path / "ids"
        directory.mkdir()
        for name in ("alpha", "beta"):
            key = new_key()
            (directory / f"{name}.key").write_bytes(key_pem(key))
            pki.issue(key.public_key(), directory / f"{name}.pem", cn=f"{name}.example")
        options = SignerOptions(
            cert_selector="Key=x509Subject,Value=CN=beta.example,O=rasign tests", cert_store=str(directory)
        )
        return ContractCase("store", options, needs_human=False)


class TestFakePlatformStoreContract(BackendContract):
    @pytest.fixture(params=["windows", "macos"])
    def case(self, request, monkeypatch) -> ContractCase:
        fake = FakeStore(request.param)
        cert, key = make_cert("CN=web.example,O=Acme", serial=7, issuer="CN=Acme CA")
        fake.add(cert, key)
        other, other_key = make_cert("CN=db.example,O=Acme", serial=8, issuer="CN=Acme CA")
        fake.add(other, other_key)
        monkeypatch.setattr(store_backend, "open_store", lambda options, platform=None: fake)
        options = SignerOptions(cert_selector="Key=x509Subject,Value=CN=web.example,O=Acme")
        return ContractCase("store", options, needs_human=False)
