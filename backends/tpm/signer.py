"""The TPM signer: a key the TPM never releases, used once or for hours.

One :class:`TpmSigner` holds one ESAPI connection and, while it lives, the loaded key:

- credential-process opens it, signs once or twice and closes it: load + sign + flush.
- serve/update keep it: repeated signatures reuse the loaded key, which is what makes
  the long-running rate match a raw tpm2-pytss loop. Without a resource manager (swtpm,
  /dev/tpm0) a loaded key occupies one of very few object slots, so the key stays loaded
  only while the TPM still has room for another client to load a key; otherwise it is flushed after
  each signature and loaded again for the next.
- A TPM opened exclusively (``/dev/tpm0`` without the kernel resource manager) would
  lock every other program out for as long as serve runs, so there the signer lets go
  of the device after a short idle time and reconnects for the next signature.
- When the key disappears under us (TPM reset or restart, simulator restarted, the
  connection dropped, objects evicted) the signer reconnects and loads the key again,
  once, then signs. That retry never applies to a wrong password: a password the TPM
  refused is never presented again by this signer, because each attempt counts towards
  the TPM's dictionary-attack lockout.

Nothing transient is leaked: parents are flushed right after loading the child, policy
sessions after each signature, the key on close().
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasign.errors import AuthenticationError, KeyLoadError, SigningError
from rasign.signer import KeyKind, Signer, hash_message

from . import policy as policy_mod
from . import tpm_errors
from .keyfile import PolicyCommand, TpmKeyFile
from .parent import describe_parent, import_wrapped, open_parent
from .scheme import (
    ATTR_USERWITHAUTH,
    check_public_area,
    fit_ecdsa_digest,
    signing_plan,
    wire_signature,
)
from .tcti import TctiChoice, open_esapi

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from tpm2_pytss import ESAPI, ESYS_TR

log = logging.getLogger("rasign.tpm")

IDLE_RELEASE_SECONDS = 2.0
"""On a TPM opened exclusively (/dev/tpm0 without the kernel resource manager), how long
after the last signature the signer lets go of the device so that other programs can use
it; the next signature reconnects and loads the key again."""

MEMORY_WAITS = (0.05, 0.1, 0.2, 0.4)
"""Pauses before retrying a load the TPM refused for lack of object slots."""

ROOM_FOR_OTHERS = 2
"""Free transient slots that must remain for the key to stay loaded (parent + child)."""


@dataclass
class KeySource:
    """Where the key comes from: a key file (loaded under its parent) or a persistent handle."""

    label: str
    keyfile: TpmKeyFile | None = None
    handle: int | None = None
    parent_auth: bytes = b""

    @property
    def transient(self) -> bool:
        """True when loading creates an object that must be flushed."""
        return self.keyfile is not None


class _Failure(Exception):
    """A TSS2 error plus what we were doing, so it can be retried or translated."""

    def __init__(self, err: Exception, action: str, secret: str) -> None:
        super().__init__(str(err))
        self.err = err
        self.rc = int(getattr(err, "rc", 0))
        self.action = action
        self.secret = secret


@contextlib.contextmanager
def _stage(action: str, secret: str = "TPM key password") -> Iterator[None]:
    from tpm2_pytss import TSS2_Exception

    try:
        yield
    except TSS2_Exception as err:
        raise _Failure(err, action, secret) from err


class TpmSigner(Signer):
    """A TPM-resident key plus the certificate that names it."""

    backend_name = "tpm"

    def __init__(
        self,
        source: KeySource,
        tcti: TctiChoice,
        *,
        certificate: x509.Certificate | None = None,
        chain: list[x509.Certificate] | None = None,
    ) -> None:
        self._source = source
        self._tcti = tcti
        self._certificate = certificate
        self._chain = list(chain or [])
        self._key_auth = b""
        self._steps: list[PolicyCommand] = list(source.keyfile.policy) if source.keyfile else []
        self._esys: ESAPI | None = None
        self._handle: ESYS_TR | None = None
        self._public: Any = None
        self._public_key: PublicKeyTypes | None = None
        self._kind: KeyKind | None = None
        self._keep_loaded = True
        self._refused: str | None = None
        self._closed = False
        self._plans: dict[str, tuple[tuple[int, int] | None, Any, Any]] = {}
        self._lock = threading.RLock()
        self._rsa_parent = False
        self._handle_name = b""
        self._idle_timer: threading.Timer | None = None
        self.loads = 0
        """How many times the key was loaded (tests and --debug use it)."""

    # -- Signer interface -------------------------------------------------------------

    @property
    def key_kind(self) -> KeyKind:
        if self._kind is None:
            raise SigningError("the TPM key has not been read yet")
        return self._kind

    def public_key(self) -> PublicKeyTypes:
        if self._public_key is None:
            raise SigningError("the TPM key has not been read yet")
        return self._public_key

    @property
    def keeps_key_loaded(self) -> bool:
        """Whether the key stays loaded between signatures (False when the TPM is short of slots)."""
        return self._keep_loaded

    @property
    def policy_steps(self) -> list[PolicyCommand]:
        """The policy replayed before each signature (empty for password-only keys)."""
        return list(self._steps)

    def describe(self) -> str:
        return f"tpm {self._kind.value if self._kind else '?'} key {self._source.label} via {self._tcti.describe()}"

    def check_matches_certificate(self) -> None:
        """Compare public keys: the TPM gives us the public area, so no signature is needed."""
        from rasign.certs import key_matches_certificate

        if self._certificate is not None and not key_matches_certificate(self.public_key(), self._certificate):
            raise KeyLoadError(
                f"the TPM key {self._source.label} does not match the certificate",
                hint="pass the certificate issued for this TPM key's public key",
            )

    def sign(self, message: bytes, digest: str = "SHA256") -> bytes:
        """Sign ``message`` in the TPM; see the module docstring for reload and retry rules."""
        with self._lock:
            self._cancel_idle_release()
            signature = self._sign_once_or_reload(message, digest)
            if self._tcti.exclusive:
                self._schedule_idle_release()
            return signature

    def _sign_once_or_reload(self, message: bytes, digest: str) -> bytes:
        if self._closed:
            raise SigningError("this TPM signer is closed")
        if self._refused:
            raise AuthenticationError(self._refused, hint=tpm_errors.NO_RETRY_NOTE)
        data = hash_message(message, digest)
        for attempt in (1, 2):
            try:
                self._ensure_loaded()
                signature = self._sign_loaded(data, digest)
            except _Failure as failure:
                if attempt == 1 and tpm_errors.is_reloadable(failure.rc):
                    log.debug(
                        "TPM key lost during %s (rc 0x%x); reconnecting and loading it again",
                        failure.action,
                        failure.rc,
                    )
                    self._drop_connection()
                    continue
                raise self._fail(failure) from failure.err
            if not self._keep_loaded:
                self._unload()
            return signature
        raise SigningError("unreachable: the TPM sign loop ended without a result")  # pragma: no cover

    def close(self) -> None:
        """Flush the key if we loaded it and close the connection. Safe to call twice."""
        with self._lock:
            self._cancel_idle_release()
            self._closed = True
            self._release_tpm()
            self._key_auth = b""

    @property
    def connected(self) -> bool:
        """Whether the signer currently holds a TPM connection (False after an idle release)."""
        return self._esys is not None

    def _release_tpm(self) -> None:
        self._unload()
        if self._esys is not None:
            with contextlib.suppress(Exception):
                self._esys.close()
            self._esys = None

    def _schedule_idle_release(self) -> None:
        timer = threading.Timer(IDLE_RELEASE_SECONDS, self._idle_release)
        timer.daemon = True
        self._idle_timer = timer
        timer.start()

    def _cancel_idle_release(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_release(self) -> None:
        with self._lock:
            if self._idle_timer is not None and not self._closed:
                log.debug("releasing the exclusively opened TPM after %.0f s idle", IDLE_RELEASE_SECONDS)
                self._release_tpm()
            self._idle_timer = None

    # -- opening ----------------------------------------------------------------------

    def prepare_public(self) -> None:
        """Connect, load the key (this checks the parent password) and vet its public area."""
        try:
            self._connect()
            self._ensure_loaded()
            self._kind, self._public_key = check_public_area(self._public, self._source.label)
        except _Failure as failure:
            raise self._fail(failure) from failure.err

    def set_key_auth(self, key_auth_for: Any) -> None:
        """Settle the key password: ``key_auth_for(needs_password)`` returns it (it may prompt).

        Called only after the key is known to be usable, so nobody types a password
        for a key that cannot sign anyway.
        """
        self._key_auth = key_auth_for(self._needs_password())
        if self._handle is not None and self._esys is not None:
            self._esys.tr_set_auth(self._handle, self._key_auth)

    def use_pcr_policy(self, selection: Any) -> None:
        """For a persistent key: derive its PCR policy from ``--tpm-pcrs`` (see policy.py)."""
        auth_policy = bytes(self._public.publicArea.authPolicy)
        if not auth_policy:
            raise KeyLoadError(
                f"the TPM key {self._source.label} has no policy, but --tpm-pcrs was given",
                hint="drop --tpm-pcrs",
            )
        try:
            with _stage("computing the PCR policy"):
                self._steps = policy_mod.steps_for_handle(self._esys, auth_policy, selection)
        except _Failure as failure:
            raise self._fail(failure) from failure.err

    def requires_policy(self) -> bool:
        """True when the key can only be used through its policy (userWithAuth clear)."""
        attributes = int(self._public.publicArea.objectAttributes)
        return bool(bytes(self._public.publicArea.authPolicy)) and not attributes & ATTR_USERWITHAUTH

    def _needs_password(self) -> bool:
        if self._source.keyfile is not None:
            if self._steps and not policy_mod.uses_password(self._steps):
                return False
            return not self._source.keyfile.empty_auth
        if self._steps:
            return policy_mod.uses_password(self._steps)
        return True

    def _connect(self) -> None:
        from tpm2_pytss import TPM2_CAP, TPM2_PT, TPM2_SU, TSS2_Exception

        self._esys = open_esapi(self._tcti)
        try:
            self._esys.get_capability(TPM2_CAP.TPM_PROPERTIES, TPM2_PT.MANUFACTURER, 1)
        except TSS2_Exception as err:
            if tpm_errors.tpm_code(int(err.rc)) != tpm_errors.RC_INITIALIZE:
                raise _Failure(err, "probing the TPM", "") from err
            with _stage("starting up the TPM"):
                self._esys.startup(TPM2_SU.CLEAR)

    # -- loading and signing ------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        if self._esys is None:
            self._connect()
        if self._handle is not None:
            return
        esys = self._esys
        assert esys is not None
        source = self._source
        if source.keyfile is not None:
            self._handle = self._load_key_file(esys, source.keyfile)
            self.loads += 1
            self._keep_loaded = self._room_to_keep()
        else:
            assert source.handle is not None
            with _stage(f"opening the persistent key 0x{source.handle:08x}"):
                handle = esys.tr_from_tpmpublic(source.handle)
                name = bytes(esys.tr_get_name(handle).marshal())
                if self._public is None:
                    self._public, _, _ = esys.read_public(handle)
                    self._handle_name = name
            if name != self._handle_name:
                with contextlib.suppress(Exception):
                    esys.tr_close(handle)
                raise KeyLoadError(
                    f"the persistent key at {source.label} was replaced by another key while rasign was using it",
                    hint="restart rasign to pick up the new key (and its certificate)",
                )
            self._handle = handle
            self.loads += 1
        esys.tr_set_auth(self._handle, self._key_auth)

    def _load_key_file(self, esys: ESAPI, keyfile: TpmKeyFile) -> ESYS_TR:
        """Load the blob under its parent; a hierarchy parent falls back to the RSA primary.

        Files rarely say which storage primary wrapped them (the ``rsaParent`` field is
        recent). Keys made under the RSA SRK (older engines, hand-made ones) fail under
        the ECC SRK with an integrity error, which costs nothing against the lockout, so
        the RSA SRK is tried next and remembered for later reloads.
        """
        from tpm2_pytss import TPM2B_PRIVATE, TPM2B_PUBLIC

        public, _ = TPM2B_PUBLIC.unmarshal(keyfile.public)
        private, _ = TPM2B_PRIVATE.unmarshal(keyfile.private)
        try:
            handle = self._load_under_parent(esys, keyfile, public, private, self._rsa_parent)
        except _Failure as failure:
            wrong_parent = tpm_errors.tpm_code(failure.rc) == tpm_errors.RC_INTEGRITY or (
                # an import under the wrong storage key fails on the seed (size, point, value)
                failure.action.startswith("importing") and not tpm_errors.is_memory_pressure(failure.rc)
            )
            retry = (
                keyfile.parent_is_hierarchy
                and not self._rsa_parent
                and tpm_errors.layer(failure.rc) == tpm_errors.TPM_LAYER
                and not tpm_errors.is_auth_failure(failure.rc)
                and wrong_parent
            )
            if not retry:
                raise
            log.debug("key does not load under the ECC storage primary; trying the RSA one")
            handle = self._load_under_parent(esys, keyfile, public, private, True)
            self._rsa_parent = True
        self._public = public
        return handle

    def _load_under_parent(
        self, esys: ESAPI, keyfile: TpmKeyFile, public: Any, private: Any, rsa_parent: bool
    ) -> ESYS_TR:
        """Load, waiting briefly when the TPM's few slots are taken by another client.

        Without a resource manager, another program's parent + key occupy two of swtpm's
        three slots while it works; that passes within milliseconds, so a short wait
        succeeds where an immediate error would fail a refresh for nothing.
        """
        for pause in (*MEMORY_WAITS, None):
            try:
                return self._load_under_parent_once(esys, keyfile, public, private, rsa_parent)
            except _Failure as failure:
                if pause is None or not tpm_errors.is_memory_pressure(failure.rc):
                    raise
                log.debug("TPM out of object slots while loading the key; retrying in %.2f s", pause)
                time.sleep(pause)
        raise SigningError("unreachable: the TPM load loop ended without a result")  # pragma: no cover

    def _load_under_parent_once(
        self, esys: ESAPI, keyfile: TpmKeyFile, public: Any, private: Any, rsa_parent: bool
    ) -> ESYS_TR:
        where = describe_parent(keyfile)
        with _stage(f"opening {where}", "TPM parent password"):
            parent, parent_transient = open_parent(esys, keyfile, self._source.parent_auth, force_rsa=rsa_parent)
        try:
            if keyfile.importable:
                with _stage(f"importing the key under {where}", "TPM parent password"):
                    private = import_wrapped(esys, parent, public, private, keyfile.secret)
            with _stage(f"loading the key under {where}", "TPM parent password"):
                return esys.load(parent, private, public)
        finally:
            with contextlib.suppress(Exception):
                if parent_transient:
                    esys.flush_context(parent)
                else:
                    esys.tr_close(parent)

    def _room_to_keep(self) -> bool:
        """Keep the key loaded if a resource manager virtualises slots or others still have room.

        "Room" is two free slots: what any client (this one included, after a reset)
        needs to load a key under its parent. Holding the key when fewer are left would
        lock every other TPM user out of loading keys until we exit.
        """
        if self._tcti.resource_managed:
            return True
        from tpm2_pytss import TPM2_CAP, TPM2_PT_HR

        try:
            _, data = self._esys.get_capability(TPM2_CAP.TPM_PROPERTIES, TPM2_PT_HR.TRANSIENT_AVAIL, 1)  # type: ignore[union-attr]
            prop = data.data.tpmProperties.tpmProperty[0]
            free = int(prop.value) if int(prop.property) == int(TPM2_PT_HR.TRANSIENT_AVAIL) else 0
        except Exception:  # noqa: BLE001 - a TPM that cannot say is treated as full
            return False
        return free >= ROOM_FOR_OTHERS

    def _sign_loaded(self, data: bytes, digest_name: str) -> bytes:
        from tpm2_pytss import ESYS_TR

        esys = self._esys
        assert esys is not None and self._handle is not None
        fit, scheme, ticket = self._plan(digest_name)
        if fit is not None:
            fitted = fit_ecdsa_digest(data, *fit)
            if fitted is None:
                raise SigningError(
                    f"this TPM cannot sign a {digest_name} digest with this curve's key",
                    hint="use --digest SHA256 (SigV4-X509 always uses SHA-256)",
                )
            data = fitted
        session = ESYS_TR.PASSWORD
        if self._steps:
            with _stage("starting a policy session"):
                session = policy_mod.start_policy_session(esys)
        try:
            if self._steps:
                with _stage("satisfying the key's policy"):
                    policy_mod.apply_steps(esys, session, self._steps)
            with _stage("signing"):
                signature = esys.sign(self._handle, data, scheme, ticket, session1=session)
        finally:
            if session != ESYS_TR.PASSWORD:
                with contextlib.suppress(Exception):
                    esys.flush_context(session)
        return wire_signature(signature.marshal())

    def _plan(self, digest_name: str) -> tuple[tuple[int, int] | None, Any, Any]:
        """Cached per digest: ((curve bytes, TPM digest size) for ECDSA or None, TPMT_SIG_SCHEME, ticket).

        Building tpm2-pytss structures costs as much as a third of an ECDSA signature
        on swtpm, so a long-running signer builds them once.
        """
        plan = self._plans.get(digest_name)
        if plan is None:
            from tpm2_pytss import TPM2_RH, TPM2_ST, TPMT_SIG_SCHEME, TPMT_TK_HASHCHECK

            size, scheme_alg, hash_alg = signing_plan(self._public, self.key_kind, digest_name, self._source.label)
            scheme = TPMT_SIG_SCHEME(scheme=scheme_alg)
            scheme.details.any.hashAlg = hash_alg
            ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
            plan = self._plans[digest_name] = (size, scheme, ticket)
        return plan

    def _unload(self) -> None:
        if self._handle is None or self._esys is None:
            self._handle = None
            return
        with contextlib.suppress(Exception):
            if self._source.transient:
                self._esys.flush_context(self._handle)
            else:
                self._esys.tr_close(self._handle)
        self._handle = None

    def _drop_connection(self) -> None:
        """Forget handles and connection after the TPM lost them (reset, restart)."""
        esys, self._esys, self._handle = self._esys, None, None
        if esys is not None:
            with contextlib.suppress(Exception):
                esys.close()

    def _fail(self, failure: _Failure) -> Exception:
        error = tpm_errors.translate(
            failure.err, action=failure.action, secret=failure.secret, key=f"the TPM key {self._source.label}"
        )
        if tpm_errors.is_auth_failure(failure.rc):
            # Remember the refusal so that serve/update never present it again.
            self._refused = error.message
        return error
