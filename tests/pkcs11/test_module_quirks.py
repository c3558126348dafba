"""Module behaviours seen on real tokens (issue 14), reproduced on SoftHSM2 where they can be.

Each test drives the real SoftHSM2 module; where a quirk belongs to another module (CACKey's
capability-less key objects and NUL-padded labels), the same state is built from SoftHSM2's
own objects. The module matrix (tests/p11modules) covers the modules themselves.
"""

from __future__ import annotations

import ctypes
import re

import pytest

from rasign.backends.pkcs11 import Pkcs11Backend
from rasign.backends.pkcs11.search import field_text, with_sign_capability
from rasign.errors import SigningError
from rasign.signer import verify_signature

pytestmark = pytest.mark.softhsm


def uri(token: str, pin: str | None = None, **attrs: str) -> str:
    text = f"pkcs11:token={token}" + "".join(f";{k}={v}" for k, v in attrs.items())
    return text + (f"?pin-value={pin}" if pin else "")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("piv-auth-p256\x00 \x00", "piv-auth-p256"),  # CACKey's token label
        ("rasign-a" + " " * 24, "rasign-a"),  # the usual space padding
        (b"0123456789abcdef", "0123456789abcdef"),  # serialNumber arrives as bytes
        ("label\x00garbage after the C string end", "label"),
        ("", ""),
    ],
)
def test_ck_utf8char_fields_lose_nul_and_space_padding(raw, shown):
    assert field_text(raw) == shown


def test_padded_label_never_reaches_a_uri(hsm, options):
    """The URI of a token is built from the cleaned fields: no %00 or %20 tails."""
    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="ec-p256"))) as signer:
        text = signer.key_uri.format()
    assert "%00" not in text and not text.split(";")[0].endswith("%20")
    assert "token=rasign-a;" in text


def test_key_object_built_without_sign_capability_still_signs_by_handle(hsm, options):
    """python-pkcs11 can build a key object without ``sign`` (seen with CACKey)."""
    from pkcs11 import _pkcs11

    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="rsa-2048"))) as signer:
        wrapper = signer._key.handle.wrapper
        bare = type("PrivateKey", (_pkcs11.PrivateKey, _pkcs11.Object), {})(wrapper)
        assert not hasattr(bare, "sign")  # what CACKey's keys looked like
        signer._key.handle = with_sign_capability(bare, signer._key.token)
        message = b"signed through the session by the key's handle"
        assert verify_signature(signer.certificate.public_key(), signer.sign(message), message)


def test_key_object_that_cannot_sign_is_a_clean_error_naming_the_module(hsm, options):
    from pkcs11 import _pkcs11

    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="rsa-2048"))) as signer:
        signer._key.handle = type("PrivateKey", (_pkcs11.PrivateKey, _pkcs11.Object), {})(signer._key.handle.wrapper)
        with pytest.raises(SigningError) as caught:
            signer.sign(b"x")
    line = caught.value.one_line()
    assert hsm.module in line and "sign capability" in line


def test_recovery_that_keeps_meeting_user_not_logged_in_is_a_signing_error(hsm, options, monkeypatch):
    """Another program logs the token out right after every login: one reopen, then a clear error."""
    library = ctypes.CDLL(hsm.module)
    library.C_Logout.argtypes = [ctypes.c_ulong]
    library.C_Logout.restype = ctypes.c_ulong

    def log_token_out(session) -> None:
        assert library.C_Logout(session.handle) == 0  # token-wide, like another application's logout

    with Pkcs11Backend.open(options(certificate=uri("rasign-a", "1234", object="rsa-2048"))) as signer:
        real_find_key = signer._find_key

        def find_then_logged_out(session):
            key = real_find_key(session)  # the recovery logged in and found the key ...
            log_token_out(session)  # ... and the login is gone again before its proof signature
            return key

        monkeypatch.setattr(signer, "_find_key", find_then_logged_out)
        log_token_out(signer._session)
        with pytest.raises(SigningError) as caught:
            signer.sign(b"message")
    assert caught.value.exit_code == 8
    line = caught.value.one_line()
    # SoftHSM2 answers CKR_USER_NOT_LOGGED_IN or, once the login is gone, CKR_OBJECT_HANDLE_INVALID
    # for the private key; either way a SigningError, never the raw python-pkcs11 exception.
    assert re.search(r"after reopening the session \(CKR_(USER_NOT_LOGGED_IN|OBJECT_HANDLE_INVALID)\)", line), line
    assert "1234" not in line


def test_module_stderr_is_captured_only_while_single_threaded(capfd):
    """fd 2 is process-wide: with other threads running (serve), nothing is redirected."""
    import os
    import threading

    from rasign.backends.pkcs11.quiet import module_stderr_captured

    alone = threading.active_count() == 1  # a session fixture (the emulator) may run threads
    with module_stderr_captured("a test"):
        os.write(2, b"module noise\n")
    assert ("module noise" in capfd.readouterr().err) is not alone
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        with module_stderr_captured("a test"):
            os.write(2, b"a worker's log line\n")
    finally:
        release.set()
        worker.join()
    assert "a worker's log line" in capfd.readouterr().err
