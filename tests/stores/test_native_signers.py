"""The signers of the OS stores (macOS keychain, Windows CNG/CryptoAPI) share one base.

Their key kind and public key come from the certificate, and an ML-DSA certificate is
refused before any native call is made, with the store named in the message. These run on
every platform: nothing here reaches the native libraries.
"""

from __future__ import annotations

import pytest

from rasign.backends.store.macos import KeychainSigner
from rasign.backends.store.windows import WindowsSigner
from rasign.errors import KeyLoadError
from rasign.signer import KeyKind
from tests.emulator.factory import make_ca, make_leaf, new_key


def _certificate(kind: str):
    return make_leaf(make_ca("native signer test root"), new_key(kind))


@pytest.mark.parametrize(
    ("make", "store"),
    [
        (lambda cert: KeychainSigner(None, None, cert, []), "the macOS keychain"),
        (lambda cert: WindowsSigner(None, None, cert, [], "CurrentUser\\MY"), "the Windows certificate store"),
    ],
    ids=["macos", "windows"],
)
def test_mldsa_certificate_is_refused_naming_the_store(make, store) -> None:
    with pytest.raises(KeyLoadError, match=f"ML-DSA keys in {store} are not supported") as caught:
        make(_certificate("mldsa65"))
    assert caught.value.hint() == "use an ML-DSA key file"


def test_kind_and_public_key_come_from_the_certificate() -> None:
    cert = _certificate("p256")
    signer = KeychainSigner(None, None, cert, [])
    assert signer.key_kind is KeyKind.EC and signer.backend_name == "store"
    assert signer.public_key() == cert.public_key() and signer.certificate is cert
