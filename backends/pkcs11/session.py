"""Sessions, login and signing mechanisms on one token.

Kept apart from the search so the same login rule serves the first open and the
recovery after a token reset: exactly one ``C_Login`` per PIN, no retry on
``CKR_PIN_INCORRECT``, and a message that says which PIN source was wrong.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasign.backends.pkcs11 import pins
from rasign.errors import AuthenticationError, SigningError
from rasign.signer import DIGEST_INFO_PREFIX, der_from_raw_ecdsa

log = logging.getLogger("rasign.pkcs11")

if TYPE_CHECKING:
    from rasign.backends.pkcs11.search import KeyObject, TokenRef


def ckr_name(err: BaseException) -> str:
    """``CKR_PIN_INCORRECT`` from python-pkcs11's ``PinIncorrect`` (see :mod:`.ckr`)."""
    from rasign.backends.pkcs11.ckr import ckr_name as name_of

    return name_of(err)


@dataclass
class Login:
    """An open session and how its login was done."""

    session: Any
    typed_pin: str | None = None
    """The PIN when it was typed at a prompt; the caller drops it unless it must keep it."""


def open_session(token: TokenRef, source: pins.PinSource | None, *, login: bool, interactive: bool) -> Login:
    """Open a read-only session, logging in as the user when asked and the token wants it."""
    from pkcs11 import TokenFlag

    flags = token.token.flags
    if not login or not flags & TokenFlag.LOGIN_REQUIRED:
        return Login(token.token.open())
    if source is not None:
        log.debug("logging in to %s with the PIN from %s", token.describe(), source.description)
        return Login(_login(token, source.read(), source.description))
    if flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH:
        from pkcs11 import PROTECTED_AUTH

        pins.tell_user(f"Enter the user PIN for {token.describe()} on the reader's PIN pad")
        return Login(_login(token, PROTECTED_AUTH, "the PIN pad"))
    pin = pins.prompt(
        f"Please enter your user PIN for {token.describe()}: ", interactive=interactive, hint=pins.NON_INTERACTIVE_HINT
    )
    return Login(_login(token, pin, "the terminal prompt"), typed_pin=pin)


def _login(token: TokenRef, pin: Any, source: str) -> Any:
    """One ``C_Login(CKU_USER)``; every failure becomes a clear, final error."""
    from pkcs11 import exceptions as x

    from rasign.backends.pkcs11.quiet import module_stderr_captured

    try:
        # tpm2-pkcs11 prints "ERROR: Esys_Unseal: ... HMAC check failed" itself on a wrong PIN.
        with module_stderr_captured("C_Login"):
            return token.token.open(user_pin=pin)
    except x.UserAlreadyLoggedIn:
        # Login state is per token and process: another session of ours is logged in.
        return token.token.open()
    except x.PinIncorrect as err:
        raise AuthenticationError(
            f"the user PIN from {source} was rejected by {token.describe()} (CKR_PIN_INCORRECT)" + _tries_left(token),
            hint="rasign tried once and will not retry, to spare the token's retry counter; fix the PIN source",
        ) from err
    except x.PinLocked as err:
        raise AuthenticationError(
            f"the user PIN of {token.describe()} is locked (CKR_PIN_LOCKED)",
            hint="unblock it with the token's PUK or SO PIN before using rasign",
        ) from err
    except (x.PinLenRange, x.PinInvalid) as err:
        raise AuthenticationError(
            f"the user PIN from {source} has a length or characters {token.describe()} does not accept ({ckr_name(err)})",
            hint="check the PIN source holds only the PIN",
        ) from err
    except x.PKCS11Error as err:
        raise AuthenticationError(f"login to {token.describe()} failed ({ckr_name(err)})") from err


def _tries_left(token: TokenRef) -> str:
    from pkcs11 import TokenFlag

    try:
        flags = token.slot.get_token().flags
    except Exception:  # noqa: BLE001 - the hint is optional, the error it decorates is not
        return ""
    if flags & TokenFlag.USER_PIN_FINAL_TRY:
        return "; the token says ONE try is left"
    if flags & TokenFlag.USER_PIN_COUNT_LOW:
        return "; the token says few tries are left"
    return ""


_HASHES = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}

# How the data handed to the token is prepared from the message.
TOKEN_HASHES = 0  # CKM_SHA*_RSA_PKCS: the whole message
HOST_HASH = 1  # CKM_ECDSA: the raw digest
DIGEST_INFO = 2  # CKM_RSA_PKCS: DigestInfo prefix + digest


class Mechanisms:
    """Which mechanism signs each (key kind, digest) on a token, checked before first use.

    Plans are cached: the signing path of a long-running signer does one dict lookup.
    """

    def __init__(self, token: TokenRef, module_name: str | None = None) -> None:
        from pkcs11.exceptions import PKCS11Error

        try:
            self.available = set(token.slot.get_mechanisms())
        except PKCS11Error as err:
            raise SigningError(f"cannot list the mechanisms of {token.describe()} ({ckr_name(err)})") from err
        self.token = token
        self.module_name = module_name or "(unknown module)"
        self._plans: dict[tuple[str, str], tuple[Any, int]] = {}

    def plan(self, kind: str, digest: str) -> tuple[Any, int]:
        """(mechanism, how the data is prepared) for a key kind and digest."""
        cached = self._plans.get((kind, digest))
        if cached is None:
            cached = self._plans[(kind, digest)] = self._choose(kind, digest)
        return cached

    def forget(self) -> None:
        """Drop cached plans after ``available`` changed."""
        self._plans.clear()

    def _choose(self, kind: str, digest: str) -> tuple[Any, int]:
        from pkcs11 import Mechanism

        if kind == "EC":
            if Mechanism.ECDSA not in self.available:
                raise SigningError(f"{self.token.describe()} does not offer CKM_ECDSA, which EC keys need")
            return Mechanism.ECDSA, HOST_HASH
        hashed = getattr(Mechanism, f"{digest}_RSA_PKCS")
        if hashed in self.available:
            return hashed, TOKEN_HASHES
        if Mechanism.RSA_PKCS in self.available:
            return Mechanism.RSA_PKCS, DIGEST_INFO
        raise SigningError(
            f"{self.token.describe()} offers neither CKM_{digest}_RSA_PKCS nor CKM_RSA_PKCS, so it cannot make"
            " PKCS#1 v1.5 signatures"
        )


def sign_raw(key: KeyObject, mechanisms: Mechanisms, message: bytes, digest: str, context_pin: str | None) -> bytes:
    """One signature in wire format: PKCS#1 v1.5 bytes, or DER ECDSA from the token's r||s."""
    mechanism, prepare = mechanisms.plan(key.kind, digest)
    sign = getattr(key.handle, "sign", None)
    if sign is None:
        raise SigningError(
            f"python-pkcs11 cannot sign with {key.uri()} on the module {mechanisms.module_name}: the key object has no"
            " sign capability",
            hint="check that the key has CKA_SIGN=true (pkcs11-tool --list-objects shows 'usage: sign'),"
            " or report the module",
        )
    if prepare == TOKEN_HASHES:
        return bytes(sign(message, mechanism=mechanism, pin=context_pin))
    if prepare == HOST_HASH:
        return der_from_raw_ecdsa(sign(_HASHES[digest](message).digest(), mechanism=mechanism, pin=context_pin))
    data = DIGEST_INFO_PREFIX[digest] + _HASHES[digest](message).digest()
    return bytes(sign(data, mechanism=mechanism, pin=context_pin))
