"""The backend conformance suite: what every key backend must do, written once.

In the style of keyring's ``BackendBasicTests``: a test module for a backend subclasses
:class:`BackendContract` and provides a ``case`` fixture returning a :class:`ContractCase`
(the backend's name, options that open one identity, and what to expect). Every built-in
backend runs it on real components: files, SoftHSM2, swtpm, a directory store, and the
fake Windows/macOS stores that feed the shared selection logic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from rasign.backend import Backend
from rasign.certs import key_matches_certificate
from rasign.options import SignerOptions
from rasign.registry import choose_backend, load_backend
from rasign.signer import KeyKind, Signer, verify_signature


@dataclass
class ContractCase:
    """One identity a backend can open, and what the contract tests expect of it."""

    backend: str
    options: SignerOptions
    needs_human: bool
    secrets: tuple[str, ...] = ()
    """Strings that must never appear in a description or repr (PINs, passwords)."""
    chosen_automatically: bool = True
    """False when the case forces the backend (``--backend``) instead of the registry choosing it."""
    opener: Callable[[SignerOptions], Signer] | None = None
    """How to open it when the registry's own open needs help (fake stores); default: the backend."""
    extra_checks: dict[str, object] = field(default_factory=dict)
    diagnoses: tuple[str, ...] = ()
    """The names of the lines the backend's ``diagnose`` gives for this case, in order (doctor's report)."""


class BackendContract:
    """Mix into a test class; provide the ``case`` fixture."""

    def _open(self, case: ContractCase) -> Signer:
        if case.opener is not None:
            return case.opener(case.options)
        return load_backend(case.backend).open(case.options)

    def test_implements_the_contract(self, case: ContractCase) -> None:
        backend = load_backend(case.backend)
        assert isinstance(backend, type) and issubclass(backend, Backend)
        assert backend.name == case.backend
        assert backend.extra is None or isinstance(backend.extra, str)
        assert isinstance(backend.reopen_each_refresh, bool)

    def test_registry_chooses_it(self, case: ContractCase) -> None:
        if not case.chosen_automatically:
            pytest.skip("this case forces its backend")
        assert choose_backend(case.options) == case.backend

    def test_needs_human_drives_the_cache_default(self, case: ContractCase) -> None:
        assert load_backend(case.backend).needs_human(case.options) is case.needs_human

    def test_open_gives_a_key_that_matches_its_certificate(self, case: ContractCase) -> None:
        signer = self._open(case)
        try:
            assert signer.certificate is not None
            assert isinstance(signer.key_kind, KeyKind)
            assert key_matches_certificate(signer.public_key(), signer.certificate)
            assert all(cert != signer.certificate for cert in signer.chain)
        finally:
            signer.close()

    def test_signatures_verify_with_the_certificate(self, case: ContractCase) -> None:
        signer = self._open(case)
        try:
            message = b"rasign backend contract"
            signature = signer.sign(message)
            assert verify_signature(signer.certificate.public_key(), signature, message)
            assert not verify_signature(signer.certificate.public_key(), signature, message + b"!")
        finally:
            signer.close()

    def test_description_and_repr_hold_no_secret(self, case: ContractCase) -> None:
        signer = self._open(case)
        try:
            texts = (signer.describe(), repr(signer), str(signer))
            for secret in case.secrets:
                assert all(secret not in text for text in texts)
        finally:
            signer.close()

    def test_close_is_idempotent(self, case: ContractCase) -> None:
        signer = self._open(case)
        signer.close()
        signer.close()

    def test_list_identities_includes_the_opened_certificate(self, case: ContractCase) -> None:
        if case.opener is not None:
            pytest.skip("listing goes through the fake store's own tests")
        signer = self._open(case)
        try:
            opened = signer.certificate
        finally:
            signer.close()
        identities = load_backend(case.backend).list_identities(case.options)
        assert any(identity.certificate == opened for identity in identities)
        for identity in identities:
            assert identity.where

    def test_diagnose_reports_a_working_setup_as_passing_and_holds_no_secret(self, case: ContractCase) -> None:
        """What doctor shows: no failure for inputs that open, well-formed lines, never a secret."""
        findings = load_backend(case.backend).diagnose(case.options)
        assert tuple(finding.name for finding in findings) == case.diagnoses
        for finding in findings:
            assert finding.name and finding.detail and finding.status in ("pass", "warn")
            for secret in case.secrets:
                assert secret not in f"{finding.detail} {finding.fix}"
