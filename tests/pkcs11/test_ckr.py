"""CKR names: python-pkcs11's exceptions back to the return values they stand for (issue 14)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

pkcs11 = pytest.importorskip("pkcs11")

from rasign.backends.pkcs11 import ckr  # noqa: E402


def _installed_mapping() -> list[tuple[str, str, str]]:
    """(CKR name, exception class, fixed message) from python-pkcs11's own map_rv_to_error."""
    pxd = Path(pkcs11.__file__).with_name("_pkcs11.pxd").read_text()
    pairs = re.findall(r'rv == (CKR_[A-Z0-9_]+):\s*\n\s*exc = (\w+)\((?:"([^"]*)")?', pxd)
    assert len(pairs) > 70, "python-pkcs11's mapping moved; update the parser and ckr.py"
    return pairs


def test_every_exception_python_pkcs11_maps_has_its_ckr_name():
    for code_name, exception, message in _installed_mapping():
        if exception == "PKCS11Error":
            assert ckr.ckr_name(pkcs11.exceptions.PKCS11Error(message)) == code_name
        else:
            assert ckr.ckr_name(getattr(pkcs11.exceptions, exception)()) == code_name
        assert code_name in ckr.CKR_NAMES.values()


def test_the_names_the_issue_found_garbled():
    assert ckr.ckr_name(pkcs11.exceptions.SlotIDInvalid()) == "CKR_SLOT_ID_INVALID"
    assert ckr.ckr_name(pkcs11.exceptions.ArgumentsBad()) == "CKR_ARGUMENTS_BAD"
    assert ckr.ckr_name(pkcs11.exceptions.TokenNotRecognised()) == "CKR_TOKEN_NOT_RECOGNIZED"
    assert ckr.ckr_name(pkcs11.exceptions.FunctionCancelled()) == "CKR_FUNCTION_CANCELED"
    assert ckr.ckr_name(pkcs11.exceptions.RandomNoRNG()) == "CKR_RANDOM_NO_RNG"


def test_every_exception_class_gets_a_clean_name():
    for name, cls in inspect.getmembers(pkcs11.exceptions, inspect.isclass):
        if not issubclass(cls, BaseException) or cls is pkcs11.exceptions.PKCS11Error:
            continue
        shown = ckr.ckr_name(cls())
        # Either a standard CKR name, or python-pkcs11's own lookup error (NoSuchKey ...).
        assert shown in ckr.CKR_NAMES.values() or (shown == name and name not in ckr.EXCEPTION_CKR), name


def test_unmapped_codes_get_their_standard_or_vendor_name():
    assert ckr.ckr_name(pkcs11.exceptions.PKCS11Error("Unmapped error code 0x68")) == "CKR_KEY_FUNCTION_NOT_PERMITTED"
    assert ckr.ckr_name(pkcs11.exceptions.PKCS11Error("Unmapped error code 0x80000042")) == "CKR_VENDOR_DEFINED+0x42"
    assert ckr.rv_name(0x1234) == "CKR 0x1234"


def test_exception_for_round_trips_through_the_name():
    for code, name in ckr.CKR_NAMES.items():
        if code == 0:
            continue
        assert ckr.ckr_name(ckr.exception_for(code)) == name
    assert isinstance(ckr.exception_for(0xA0), pkcs11.exceptions.PinIncorrect)
