"""The long-lived PKCS#11 signer: one session and key handle kept across signatures.

The Go helper re-searches, logs in and opens a session for every signature (reference-
helper.md 8.8). rasign keeps the session and key handle, which is what makes ``serve`` and
``update`` cheap, and recovers when the session goes away (token removed and reinserted,
module reset, another session logging out): it finds the same token again by label,
serial, manufacturer and model, logs in with a non-interactive PIN source, finds the same
key by its narrowed URI and proves it is still the certified key before signing.

Always-authenticate keys (YubiKey PIV slot 9c) get a context-specific login for every
signature (python-pkcs11's ``sign(pin=)`` does C_SignInit, C_Login(CKU_CONTEXT_SPECIFIC),
C_Sign). A rejected context PIN poisons a SoftHSM session for single-part mechanisms, so
the session is reopened after one (test-environment.md 5.4).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from rasign.backends.pkcs11 import pins
from rasign.backends.pkcs11.search import find_keys, matching_tokens
from rasign.backends.pkcs11.session import Mechanisms, ckr_name, open_session, sign_raw
from rasign.errors import AuthenticationError, KeyLoadError, SigningError
from rasign.signer import DIGESTS, KeyKind, Signer, verify_signature

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from rasign.backends.pkcs11.module import LoadedModule
    from rasign.backends.pkcs11.search import KeyObject, TokenRef

log = logging.getLogger("rasign.pkcs11")

RECOVERABLE = (
    "SessionHandleInvalid",
    "SessionClosed",
    "DeviceRemoved",
    "TokenNotPresent",
    "KeyHandleInvalid",
    "ObjectHandleInvalid",
    "SlotIDInvalid",
    "DeviceError",
    "HostMemory",  # NSS softokn's answer to C_SignInit once another session logged the token out
)
"""python-pkcs11 errors after which reopening the session can help."""
PROOF_MESSAGE = b"rasign PKCS#11 key/certificate consistency check"


def is_recoverable(err: BaseException, always_authenticate: bool) -> bool:
    name = type(err).__name__
    if name in RECOVERABLE:
        return True
    if name == "UserNotLoggedIn" and not always_authenticate:
        return True  # our login was dropped (another session logged out): log in again
    return name == "PKCS11Error" and "not initialized" in str(err)


def _logged_in_session(session: Any) -> bool:
    """True when closing ``session`` would call C_Logout (python-pkcs11 logs out on close)."""
    from pkcs11.constants import UserType

    try:
        return bool(session.user_type != UserType.NOBODY)
    except Exception:  # noqa: BLE001 - unknown: keep it, closing could log the token out
        return True


class ContextPins:
    """The context-specific (signature) PIN policy for always-authenticate keys."""

    def __init__(self, options: Any, user_source: pins.PinSource | None, kept_user_pin: str | None) -> None:
        self.source = pins.context_pin_source(options)
        self.reuse = bool(getattr(options, "reuse_pin", False))
        self.interactive = bool(getattr(options, "interactive", True))
        self.user_source = user_source
        self._kept_user_pin = kept_user_pin if self.reuse else None
        self._typed: str | None = None
        self._reuse_rejected = False

    def current(self, what: str) -> tuple[str, str]:
        """(PIN, origin) for the next signature; origin is source, reuse or typed."""
        if self.source is not None:
            return self.source.read(), "source"
        if self._typed is not None:
            return self._typed, "typed"
        if self.reuse and not self._reuse_rejected:
            if self.user_source is not None:
                return self.user_source.read(), "reuse"
            if self._kept_user_pin is not None:
                return self._kept_user_pin, "reuse"
        pin = pins.prompt(
            f"Please enter your context-specific PIN for {what}: ",
            interactive=self.interactive,
            hint=pins.CONTEXT_HINT,
            what="context PIN",
        )
        self._typed = pin  # kept: a long-running process needs it for every signature
        return pin, "typed"

    def describe(self, origin: str) -> str:
        if origin == "source" and self.source is not None:
            return self.source.description
        return {"reuse": "the user PIN (--reuse-pin)", "typed": "the terminal prompt"}.get(origin, origin)

    def rejected(self, origin: str) -> bool:
        """Record a rejected PIN; True when one prompt may follow (only after --reuse-pin)."""
        if origin == "typed":
            self._typed = None
        if origin == "reuse":
            self._reuse_rejected = True
            self._kept_user_pin = None
            return self.interactive
        return False

    def forget(self) -> None:
        self._typed = None
        self._kept_user_pin = None


class Pkcs11Signer(Signer):
    """A private key on a PKCS#11 token plus its certificate (from the token or a file)."""

    backend_name = "pkcs11"

    def __init__(
        self,
        *,
        module: LoadedModule,
        token: TokenRef,
        session: Any,
        key: KeyObject,
        mechanisms: Mechanisms,
        certificate: x509.Certificate | None,
        chain: list[x509.Certificate],
        public_key: PublicKeyTypes | None,
        user_source: pins.PinSource | None,
        context: ContextPins,
        interactive: bool,
    ) -> None:
        self._module = module
        self._token = token
        self._session = session
        self._key = key
        self._mechanisms = mechanisms
        self._certificate = certificate
        self._chain = chain
        self._public_key = public_key
        self._user_source = user_source
        self._context = context
        self._interactive = interactive
        self._lock = threading.Lock()
        self._closed = False
        self._parked: list[Any] = []
        self.key_uri = key.uri()
        """Narrowed URI of the key in use (no PIN), for logs and messages."""
        self.recoveries = 0
        """How many times the session was reopened (observable by tests and ``--debug``)."""

    # -- Signer interface ----------------------------------------------------------------

    @property
    def key_kind(self) -> KeyKind:
        return KeyKind.RSA if self._key.kind == "RSA" else KeyKind.EC

    def public_key(self) -> PublicKeyTypes:
        if self._certificate is not None:
            return self._certificate.public_key()
        if self._public_key is None:
            raise KeyLoadError(
                f"the public key of {self.key_uri} is not readable from the token",
                hint="add the certificate (--certificate) or a public key object with the same id",
            )
        return self._public_key

    @property
    def always_authenticate(self) -> bool:
        return self._key.always_authenticate

    def describe(self) -> str:
        return f"pkcs11 {self._key.kind} key {self.key_uri} via {self._module.path}"

    def sign(self, message: bytes, digest: str = "SHA256") -> bytes:
        if digest not in DIGESTS:
            raise SigningError(f"unsupported hash algorithm {digest!r}", hint="use SHA256, SHA384 or SHA512")
        with self._lock:
            if self._closed:
                raise SigningError("the PKCS#11 signer is closed")
            always_auth = self._key.always_authenticate
            try:
                if not always_auth:  # the hot path of serve/update: one call into the token
                    return sign_raw(self._key, self._mechanisms, message, digest, None)
                return self._sign_once(message, digest)
            except Exception as err:
                if not is_recoverable(err, always_auth):
                    raise self._signing_error(err) from err
                log.info("PKCS#11 session lost (%s); reopening %s", ckr_name(err), self._token.describe())
            # One reopen, then one more attempt: a second failure is reported, never looped.
            # The reopen itself (login, key search, proof signature) talks to the token too,
            # so its failures are mapped the same way (a session that keeps answering
            # CKR_USER_NOT_LOGGED_IN ended in "internal error" before, issue 14).
            try:
                self._recover()
                return self._sign_once(message, digest)
            except Exception as err:
                raise self._signing_error(err, after_recovery=True) from err

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._context.forget()
            self._close_session()

    # -- internals ------------------------------------------------------------------------
    def _signing_error(self, err: Exception, after_recovery: bool = False) -> Exception:
        from rasign.errors import RasignError

        if isinstance(err, RasignError):
            return err
        name = ckr_name(err)
        if after_recovery:
            hint = "the token keeps refusing after one reopen; check it is present and its PIN source is right"
            if name == "CKR_USER_NOT_LOGGED_IN":
                hint = (
                    "the module dropped the login again right after rasign logged in; another program may be"
                    " logging the token out (C_Logout is token-wide), or the key needs a PIN per signature"
                )
            return SigningError(f"signing with {self.key_uri} failed after reopening the session ({name})", hint=hint)
        return SigningError(f"signing with {self.key_uri} failed ({name})")

    def _sign_once(self, message: bytes, digest: str) -> bytes:
        if not self._key.always_authenticate:
            return sign_raw(self._key, self._mechanisms, message, digest, None)
        return self._sign_with_context_login(message, digest)

    def _sign_with_context_login(self, message: bytes, digest: str) -> bytes:
        from pkcs11.exceptions import PinIncorrect, PinLocked, PKCS11Error

        from rasign.backends.pkcs11.ckr import is_user_type_invalid

        pin, origin = self._context.current(str(self.key_uri))
        try:
            return sign_raw(self._key, self._mechanisms, message, digest, pin)
        except PinIncorrect as err:
            self._reopen_same_login()  # a failed context login can leave the operation stuck
            if self._context.rejected(origin):
                pin, origin = self._context.current(str(self.key_uri))
                try:
                    return sign_raw(self._key, self._mechanisms, message, digest, pin)
                except PinIncorrect as again:
                    self._context.rejected(origin)
                    self._reopen_same_login()
                    raise self._context_error(origin) from again
            raise self._context_error(origin) from err
        except PinLocked as err:
            raise AuthenticationError(
                f"the PIN of {self._token.describe()} is locked (CKR_PIN_LOCKED)",
                hint="unblock it with the token's PUK or SO PIN",
            ) from err
        except PKCS11Error as err:
            if not is_user_type_invalid(err):
                raise
            # opencryptoki: CKA_ALWAYS_AUTHENTICATE is stored but C_Login(CKU_CONTEXT_SPECIFIC)
            # is refused. No PIN was checked, so none was spent; say what it is, not "mismatch".
            raise SigningError(
                f"{self._module.path} refuses the context-specific login (C_Login(CKU_CONTEXT_SPECIFIC) answered"
                f" CKR_USER_TYPE_INVALID) that the always-authenticate key {self.key_uri} needs",
                hint="this module cannot take a PIN per signature: use a key without CKA_ALWAYS_AUTHENTICATE"
                " (or whatever per-key PIN policy the module offers), or a module that supports context login;"
                " --reuse-pin and context PIN sources cannot help here",
            ) from err

    def _context_error(self, origin: str) -> AuthenticationError:
        return AuthenticationError(
            f"the context-specific PIN from {self._context.describe(origin)} was rejected for {self.key_uri} (CKR_PIN_INCORRECT)",
            hint="rasign does not retry a rejected PIN; " + pins.CONTEXT_HINT,
        )

    def _close_session(self) -> None:
        sessions = [s for s in (*self._parked, self._session) if s is not None]
        self._session, self._parked = None, []
        for session in reversed(sessions):  # the logged-in one last
            self._close_quietly(session)

    @staticmethod
    def _close_quietly(session: Any) -> None:
        try:
            session.close()
        except Exception as err:  # noqa: BLE001 - already gone with the token: nothing to release
            log.debug("closing a PKCS#11 session: %s", ckr_name(err))

    def _reopen_same_login(self) -> None:
        """Fresh session on the same token; the token-wide login stays, so no PIN is used."""
        try:
            session = self._token.token.open()
            key = self._find_key(session)
        except Exception as err:  # noqa: BLE001 - fall back to a full recovery
            log.debug("reopening after a rejected context PIN failed: %s", ckr_name(err))
            self._recover()
            return
        # The old session may be the one that logged in: closing it would log the whole
        # token out (C_Logout is token-wide), so it is parked until close(). One opened
        # without a login can go at once, so repeated rejections do not pile sessions up.
        old = self._session
        self._session, self._key = session, key
        if old is not None:
            if _logged_in_session(old):
                self._parked.append(old)
            else:
                self._close_quietly(old)

    def _recover(self) -> None:
        """Find the token again, log in non-interactively, find and re-prove the key."""
        self._close_session()
        lib = self._module.lib
        if not getattr(lib, "initialized", True):
            lib.initialize()
        try:
            tokens = [t for t in matching_tokens(lib, self._token.uri()) if t.identity() == self._token.identity()]
        except Exception as err:
            if type(err).__name__ == "PKCS11Error" and "not initialized" in str(err):
                lib.initialize()
                tokens = [t for t in matching_tokens(lib, self._token.uri()) if t.identity() == self._token.identity()]
            else:
                raise SigningError(f"cannot list PKCS#11 slots after losing the session ({ckr_name(err)})") from err
        if not tokens:
            raise SigningError(
                f"{self._token.describe()} is no longer present",
                hint="reinsert the token; the next signature will find it again",
            )
        token = tokens[0]
        if self._user_source is None:
            raise AuthenticationError(
                f"the session with {token.describe()} was lost and the user PIN was typed at a prompt, which rasign does not keep",
                hint="for long-running use " + pins.NON_INTERACTIVE_HINT,
            )
        login = open_session(token, self._user_source, login=True, interactive=False)
        self._token = token
        self._session = login.session
        self._key = self._find_key(login.session)
        self._mechanisms = Mechanisms(token, self._module.path)
        self.recoveries += 1
        if self._certificate is not None:
            signature = self._sign_once(PROOF_MESSAGE, "SHA256")
            if not verify_signature(self._certificate.public_key(), signature, PROOF_MESSAGE):
                raise KeyLoadError(
                    f"after reopening {token.describe()} the key {self.key_uri} no longer matches the certificate"
                )

    def _find_key(self, session: Any) -> KeyObject:
        keys = [k for k in find_keys(session, self._token, self.key_uri) if k.kind == self._key.kind]
        if len(keys) != 1:
            raise KeyLoadError(
                f"after reopening {self._token.describe()}, {len(keys)} keys match {self.key_uri} (expected one)"
            )
        return keys[0]
