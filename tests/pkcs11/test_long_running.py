"""Long-running use as serve/update do it: one SessionMinter, one PKCS#11 session, many mints."""

from __future__ import annotations

import threading

import pytest

from tests.support.flags import emulator_options

pytestmark = [pytest.mark.softhsm, pytest.mark.network]


def session_options(emulator):
    from rasign.options import SessionOptions

    return SessionOptions(
        **emulator_options(emulator),
    )


@pytest.mark.parametrize("label", ["rsa-2048", "ec-p256-always-auth"])
def test_token_reset_between_two_create_sessions_is_recovered(
    hsm, options, emulator, label, tmp_path, close_all_sessions
):
    """Simulated removal and reinsertion (all sessions closed) between two CreateSessions."""
    from rasign.refresh import SessionMinter

    pin = tmp_path / "pin"
    pin.write_text("1234")
    opts = options(certificate=f"pkcs11:token=rasign-a;object={label}", pkcs11_pin_file=str(pin), reuse_pin=True)
    with SessionMinter(opts, session_options(emulator), reopen_each_time=False) as minter:
        minter.open()
        first = minter.mint()
        signer = minter._signer
        close_all_sessions(signer._token.slot.slot_id)  # every session on the token is gone
        second = minter.mint()
        assert minter._signer is signer, "the signer recovered by itself; it was not rebuilt"
        assert signer.recoveries == 1
        third = minter.mint()
        assert signer.recoveries == 1
    assert len({first.access_key_id, second.access_key_id, third.access_key_id}) == 3


def test_concurrent_signatures_share_one_session_safely(hsm, options):
    from rasign.backends.pkcs11 import Pkcs11Backend
    from rasign.signer import verify_signature

    errors: list[BaseException] = []
    with Pkcs11Backend.open(options(certificate="pkcs11:token=rasign-a;object=ec-p256?pin-value=1234")) as signer:
        public = signer.certificate.public_key()

        def work(n: int) -> None:
            try:
                for i in range(200):
                    message = f"{n}-{i}".encode()
                    assert verify_signature(public, signer.sign(message), message)
            except BaseException as err:  # noqa: BLE001 - reported below, from the main thread
                errors.append(err)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
