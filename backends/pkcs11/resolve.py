"""From ``--certificate``/``--private-key`` to a ready :class:`Pkcs11Signer`.

Steps (draft-woodhouse-cert-best-practice §8, reference-helper.md 8.4-8.5, quirks fixed):

1. load the module (``--pkcs11-lib``, URI ``module-path``/``module-name``, p11-kit-proxy);
2. certificate: from a file (hybrid mode) or searched on the tokens the URI matches,
   first without login and, when one token matches and nothing was visible, after login;
   YubiKey attestation certificates are skipped; several matches fail with one URI each;
3. key: on the certificate's token (or the one token the key URI matches), by the key
   URI's ``id``/``object``, else by the certificate's ``CKA_ID`` then its label; each
   candidate signs a test message that must verify with the certificate, so a wrong key
   is caught before any network call;
4. with only a key URI, the certificate is looked up on the key's token (same ``CKA_ID``,
   then same label) and proven the same way, so one URI is enough for credential-process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rasign.backends.pkcs11 import module as modules
from rasign.backends.pkcs11 import pins
from rasign.backends.pkcs11.search import (
    CertObject,
    KeyObject,
    TokenRef,
    find_certificates,
    find_keys,
    issuer_chain,
    key_public_key,
    matching_tokens,
)
from rasign.backends.pkcs11.session import (
    Login,
    Mechanisms,
    ckr_name,
    open_session,
)
from rasign.backends.pkcs11.signer import PROOF_MESSAGE, ContextPins, Pkcs11Signer
from rasign.backends.pkcs11.uri import Pkcs11Uri, is_pkcs11_uri, parse
from rasign.certs import key_matches_certificate
from rasign.errors import KeyLoadError, SigningError, UsageError
from rasign.signer import Identity, verify_signature

if TYPE_CHECKING:
    from cryptography import x509

    from rasign.options import SignerOptions

log = logging.getLogger("rasign.pkcs11")


def input_uris(options: SignerOptions) -> tuple[Pkcs11Uri | None, Pkcs11Uri | None]:
    """The certificate and key inputs as parsed URIs (None for an input that is not one); shared with diagnose."""
    cert_uri = parse(options.certificate) if options.certificate and is_pkcs11_uri(options.certificate) else None
    key_uri = parse(options.private_key) if options.private_key and is_pkcs11_uri(options.private_key) else None
    if cert_uri is not None and options.private_key and key_uri is None:
        raise UsageError(
            "a certificate on a PKCS#11 token cannot be combined with a private key file",
            hint="give the key as a pkcs11: URI too, or the certificate as a file",
        )
    for uri, expected, flag in ((cert_uri, "cert", "--certificate"), (key_uri, "private", "--private-key")):
        if uri is not None and uri.type not in (None, expected):
            # The Go helper ignores type=; a key URI pasted into --certificate still names
            # the pair by id/object, so say so and go on rather than break a working setup.
            log.warning(
                "%s has type=%s; searching for the %s object with the same id/object instead", flag, uri.type, expected
            )
    return cert_uri, key_uri


def load_module(options: SignerOptions, *uris: Pkcs11Uri | None) -> modules.LoadedModule:
    """The module per ``--pkcs11-lib``, else the first URI naming one, else p11-kit-proxy."""
    module_path = next((u.module_path for u in uris if u is not None and u.module_path), None)
    module_name = next((u.module_name for u in uris if u is not None and u.module_name), None)
    init_args = getattr(options, "pkcs11_init_args", None)
    if init_args is None:
        init_args = next((u.init_reserved for u in uris if u is not None and u.init_reserved is not None), None)
    return modules.load(options.pkcs11_lib, module_path, module_name, init_args)


class Resolver:
    """One open attempt: sessions opened during the search, closed unless kept."""

    def __init__(
        self,
        module: modules.LoadedModule,
        options: SignerOptions,
        pin_uri: Pkcs11Uri | None,
        cert_pin_uri: Pkcs11Uri | None = None,
    ) -> None:
        self.module = module
        self.options = options
        self.interactive = bool(options.interactive)
        self.user_source = pins.user_pin_source(
            pin_uri.pin_value if pin_uri else None, pin_uri.pin_source if pin_uri else None, options
        )
        """PIN source for the key's token (and for recovery later)."""
        self.cert_source = self.user_source
        """PIN source for a login during the certificate search: the certificate URI's own PIN,
        so a key URI's PIN for another token is never tried on the certificate's token."""
        if cert_pin_uri is not None and cert_pin_uri is not pin_uri:
            self.cert_source = pins.user_pin_source(cert_pin_uri.pin_value, cert_pin_uri.pin_source, options)
        self.sessions: dict[tuple[str, str, str, str], Login] = {}
        self.logged_in: set[tuple[str, str, str, str]] = set()
        self.parked: dict[tuple[str, str, str, str], list[Any]] = {}
        """Sessions set aside after a rejected context PIN; one may hold the token's login."""
        self.typed_pin: str | None = None
        self.proof_errors: list[tuple[KeyObject, Exception]] = []
        self.login_early: set[tuple[str, str, str, str]] = set()
        """Tokens whose first session logs in at once: the key is searched there later, and
        ykcs11/OpenSC rescan the whole card on every C_OpenSession (issue 14), so a run
        opens one session per token instead of one without and one with login."""

        """Test signatures the token refused (reported when no candidate key proves)."""

    # -- sessions ---------------------------------------------------------------------
    def session(self, token: TokenRef, *, login: bool, for_certificate: bool = False) -> Any:
        ident = token.identity()
        current = self.sessions.get(ident)
        if current is not None and (not login or ident in self.logged_in):
            return current.session
        if current is not None:
            self._close(current.session)
        if not login and ident in self.login_early:
            login, for_certificate = True, False  # the key search will log in here anyway
        source = self.cert_source if for_certificate else self.user_source
        result = open_session(token, source, login=login, interactive=self.interactive)
        if result.typed_pin is not None:
            self.typed_pin = result.typed_pin
        self.sessions[ident] = result
        if login:
            self.logged_in.add(ident)
        return result.session

    def close_all(self, keep: Any = None) -> None:
        for login in self.sessions.values():
            if login.session is not keep:
                self._close(login.session)
        for sessions in self.parked.values():
            for session in reversed(sessions):  # the logged-in one last
                self._close(session)
        self.sessions.clear()
        self.parked.clear()

    @staticmethod
    def _close(session: Any) -> None:
        try:
            session.close()
        except Exception as err:  # noqa: BLE001 - a session that is already gone needs no closing
            log.debug("closing a search session: %s", ckr_name(err))

    # -- tokens -----------------------------------------------------------------------
    def tokens(self, uri: Pkcs11Uri, what: str) -> list[TokenRef]:
        found = matching_tokens(self.module.lib, uri)
        if not found and self.module.reused:
            # A long-lived process loaded the module before the token was (re)inserted; some
            # modules (SoftHSM2) only rescan their tokens at C_Initialize. Once, then report.
            log.info(
                "no token matches %s; initialising %s again to look for a reinserted token",
                uri.format(),
                self.module.path,
            )
            try:
                self.module.lib.reinitialize()
            except Exception as err:  # noqa: BLE001 - the search below reports what is missing
                log.debug("reinitialising the module failed: %s", ckr_name(err))
            self.module.reused = False
            found = matching_tokens(self.module.lib, uri)
        if not found:
            present = matching_tokens(self.module.lib, Pkcs11Uri())
            listing = " | ".join(t.uri().format() for t in present) or "none"
            raise KeyLoadError(
                f"no token matches the {what} URI {uri.format()} in {self.module.path}",
                hint=f"tokens present: {listing}",
            )
        return found

    def plan_early_login(self, cert_uri: Pkcs11Uri, key_uri: Pkcs11Uri | None) -> None:
        """Log in on the certificate search's session when the key is on that same token."""
        cert_tokens = matching_tokens(self.module.lib, cert_uri.with_path(type=None))
        if len(cert_tokens) != 1:
            return  # several tokens: one PIN is never tried on each
        ident = cert_tokens[0].identity()
        if key_uri is not None:
            key_tokens = matching_tokens(self.module.lib, key_uri.with_path(type=None))
            if [t.identity() for t in key_tokens] != [ident]:
                return
        self.login_early.add(ident)

    # -- certificates -----------------------------------------------------------------
    def find_certificate(self, uri: Pkcs11Uri) -> CertObject:
        tokens = self.tokens(uri, "certificate")
        search = uri.with_path(type=None)
        found = [c for t in tokens for c in find_certificates(self.session(t, login=False), t, search)]
        if not found and len(tokens) == 1:
            # Some tokens only show certificates after login (CKA_PRIVATE certificates).
            found = find_certificates(self.session(tokens[0], login=True, for_certificate=True), tokens[0], search)
        usable = [c for c in found if not c.is_attestation]
        if found and not usable:
            raise KeyLoadError(
                f"only YubiKey attestation certificates match {uri.format()}",
                hint="name the slot's own certificate with object=, or import a certificate for the key",
            )
        if not usable:
            raise KeyLoadError(
                f"no certificate matches {uri.format()}",
                hint="list certificates with: rasign read-certificate-data --certificate '"
                + tokens[0].uri().format()
                + "'",
            )
        if len(usable) > 1:
            raise ambiguous("certificates", uri, [c.uri() for c in usable])
        return usable[0]

    def token_certificates(self, token: TokenRef) -> list[x509.Certificate]:
        return [c.certificate for c in find_certificates(self.session(token, login=False), token, Pkcs11Uri())]

    # -- keys -------------------------------------------------------------------------
    def key_token(self, key_uri: Pkcs11Uri | None, cert: CertObject | None) -> TokenRef:
        if key_uri is None:
            assert cert is not None
            return cert.token
        tokens = self.tokens(key_uri, "key")
        if len(tokens) == 1:
            return tokens[0]
        if cert is not None:
            same = [t for t in tokens if t.identity() == cert.token.identity()]
            if same:
                return same[0]
        # Logging in to several tokens with one PIN would risk a wrong-PIN try on each.
        raise ambiguous("tokens", key_uri, [t.uri() for t in tokens], hint_extra="add token= or serial=")

    def find_key(
        self,
        token: TokenRef,
        key_uri: Pkcs11Uri | None,
        cert: CertObject | None,
        certificate: x509.Certificate | None,
        context: ContextPins,
        mechanisms: Mechanisms,
    ) -> KeyObject:
        session = self.session(token, login=True)
        tried: list[KeyObject] = []
        seen: set[int] = set()
        self.proof_errors = []
        for attempt in _key_attempts(key_uri, cert):
            keys = find_keys(session, token, attempt)
            if certificate is None:
                if len(keys) > 1:
                    raise ambiguous(
                        "private keys", attempt, [k.uri() for k in keys], hint_extra="or pass the certificate"
                    )
                if keys:
                    return keys[0]
                continue
            # By CKA_ID and again by label usually finds the same object: prove it once,
            # since each proof of an always-authenticate key spends a context login.
            keys = [k for k in keys if _handle_number(k) not in seen]
            seen.update(_handle_number(k) for k in keys)
            tried.extend(keys)
            proven = self.proven_key(token, keys, certificate, context, mechanisms)
            if proven is not None:
                return proven
        raise self.no_key_error(token, key_uri, certificate, tried)

    def proven_key(
        self,
        token: TokenRef,
        keys: list[KeyObject],
        certificate: x509.Certificate,
        context: ContextPins,
        mechanisms: Mechanisms,
    ) -> KeyObject | None:
        """The first of ``keys`` of the certificate's kind whose test signature it verifies."""
        wanted = "RSA" if _is_rsa(certificate) else "EC"
        for key in keys:
            if key.kind != wanted:
                continue
            # A public half on the token that differs rules a key out without signing:
            # no context login (and no PIN try) is spent on keys that cannot match.
            public = key_public_key(self.sessions[token.identity()].session, key)
            if public is not None and not key_matches_certificate(public, certificate):
                continue
            if self.proves(key, certificate, context, mechanisms):
                return key
        return None

    def no_key_error(
        self,
        token: TokenRef,
        key_uri: Pkcs11Uri | None,
        certificate: x509.Certificate | None,
        tried: list[KeyObject],
    ) -> SigningError | KeyLoadError:
        """Why no key was found: a token that refused to sign, keys that do not match, or none at all."""
        if self.proof_errors:
            key, err = self.proof_errors[0]
            error = SigningError(
                f"{self.module.path} could not make the test signature with {key.uri().format()} ({ckr_name(err)}),"
                " so rasign cannot check that it belongs to the certificate",
                hint="run with --debug for the module's answers; check the key allows signing (CKA_SIGN) with"
                " the mechanisms the token lists",
            )
            error.__cause__ = err
            return error
        if tried:
            names = ", ".join(k.uri().format() for k in tried)
            return KeyLoadError(
                f"the private key does not match the certificate {certificate.subject.rfc4514_string() if certificate else ''}"
                f" (tried {names})",
                hint="pass the key that was certified, or the certificate issued for this key",
            )
        described = key_uri.format() if key_uri is not None else f"the certificate's CKA_ID/label on {token.describe()}"
        return KeyLoadError(
            f"no private key matches {described}",
            hint="check id= and object= (pkcs11-tool --module MODULE --login --list-objects lists them)",
        )

    def proves(
        self, key: KeyObject, certificate: x509.Certificate, context: ContextPins, mechanisms: Mechanisms
    ) -> bool:
        """Sign a test message with ``key`` and verify it with the certificate's public key.

        The signature goes through a probe :class:`Pkcs11Signer`, so the context-login rules
        (one attempt per source, one prompt after a rejected ``--reuse-pin``, a fresh session
        after a rejected PIN) are the same code as for every later signature.
        """
        from pkcs11.exceptions import PKCS11Error

        ident = key.token.identity()
        probe = self.signer_for(key, mechanisms, certificate, context)
        try:
            signature = probe._sign_once(PROOF_MESSAGE, "SHA256")
        except PKCS11Error as err:
            # Not "the key does not match": the token refused to sign; said so if no key proves.
            log.debug("test signature with %s failed: %s", key.uri(), ckr_name(err))
            self.proof_errors.append((key, err))
            return False
        finally:
            # The probe may have replaced a session poisoned by a rejected PIN: take it back.
            self.sessions[ident].session = probe._session
            self.parked.setdefault(ident, []).extend(probe._parked)
            probe._parked = []
            key.handle = probe._key.handle
        return verify_signature(certificate.public_key(), signature, PROOF_MESSAGE)

    def signer_for(
        self, key: KeyObject, mechanisms: Mechanisms, certificate: x509.Certificate | None, context: ContextPins
    ) -> Pkcs11Signer:
        """A signer on the current session of the key's token (the resolver still owns it)."""
        return Pkcs11Signer(
            module=self.module,
            token=key.token,
            session=self.sessions[key.token.identity()].session,
            key=key,
            mechanisms=mechanisms,
            certificate=certificate,
            chain=[],
            public_key=None,
            user_source=self.user_source,
            context=context,
            interactive=self.interactive,
        )

    def certificate_for_key(
        self, token: TokenRef, key: KeyObject, context: ContextPins, mechanisms: Mechanisms
    ) -> CertObject | None:
        session = self.session(token, login=True)
        public = key_public_key(session, key)
        for attempt in ([Pkcs11Uri().with_path(id=key.id)] if key.id else []) + (
            [Pkcs11Uri().with_path(object=key.label)] if key.label else []
        ):
            certs = [c for c in find_certificates(session, token, attempt) if not c.is_attestation]
            if public is not None:
                certs = [c for c in certs if key_matches_certificate(public, c.certificate)]
            else:
                certs = [c for c in certs if self.proves(key, c.certificate, context, mechanisms)]
            if len(certs) > 1:
                raise ambiguous(
                    "certificates", attempt, [c.uri() for c in certs], hint_extra="pass one with --certificate"
                )
            if certs:
                return certs[0]
        return None


def _key_attempts(key_uri: Pkcs11Uri | None, cert: CertObject | None) -> list[Pkcs11Uri]:
    """Where to look for the key: the key URI, else the certificate's CKA_ID, then its label."""
    if key_uri is not None:
        return [key_uri.with_path(type=None)]
    assert cert is not None
    attempts = []
    if cert.id:
        attempts.append(Pkcs11Uri().with_path(id=cert.id))
    if cert.label:
        attempts.append(Pkcs11Uri().with_path(object=cert.label))
    return attempts


def _handle_number(key: KeyObject) -> int:
    """The object handle of a key (stable within the session it was found on)."""
    return int(getattr(key.handle, "handle", id(key.handle)))


def _is_rsa(certificate: x509.Certificate) -> bool:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return isinstance(certificate.public_key(), rsa.RSAPublicKey)


def ambiguous(what: str, uri: Pkcs11Uri, candidates: list[Pkcs11Uri], hint_extra: str = "") -> KeyLoadError:
    """Several objects match: name each with a ready-to-paste URI."""
    listing = " | ".join(c.format() for c in candidates)
    hint = "use one of these URIs: " + listing
    if hint_extra:
        hint += f" ({hint_extra})"
    return KeyLoadError(f"{len(candidates)} {what} match {uri.format()}", hint=hint)


def open_signer(options: SignerOptions) -> Pkcs11Signer:
    """Resolve the options into a signer whose key is proven to match its certificate."""
    from rasign import certs as certfiles

    cert_uri, key_uri = input_uris(options)
    file_cert: x509.Certificate | None = None
    file_chain: list[x509.Certificate] = []
    if options.certificate and cert_uri is None:
        file_cert, file_chain = certfiles.load_leaf_and_chain(options.certificate, options.intermediates)
    module = load_module(options, key_uri, cert_uri)
    log.debug("PKCS#11 module %s", module.describe())
    resolver = Resolver(module, options, _pin_uri(cert_uri, key_uri), cert_uri)
    keep = None
    try:
        if cert_uri is not None:
            resolver.plan_early_login(cert_uri, key_uri)
        cert_obj = resolver.find_certificate(cert_uri) if cert_uri is not None else None
        certificate = cert_obj.certificate if cert_obj is not None else file_cert
        if cert_obj is not None:
            log.debug("certificate %s (%s)", cert_obj.uri(), cert_obj.certificate.subject.rfc4514_string())
        token = resolver.key_token(key_uri, cert_obj)
        mechanisms = Mechanisms(token, module.path)
        resolver.session(token, login=True)
        context = ContextPins(options, resolver.user_source, resolver.typed_pin)
        key = resolver.find_key(token, key_uri, cert_obj, certificate, context, mechanisms)
        log.debug("private key %s%s", key.uri(), " (always authenticate)" if key.always_authenticate else "")
        if certificate is None:
            cert_obj = resolver.certificate_for_key(token, key, context, mechanisms)
            certificate = cert_obj.certificate if cert_obj is not None else None
        chain = _chain(options, resolver, cert_obj) if cert_obj is not None else file_chain
        # The current session of the token: a probe may have replaced the one opened above.
        public = key_public_key(resolver.sessions[token.identity()].session, key) if certificate is None else None
        if not (key.always_authenticate and options.reuse_pin):
            context._kept_user_pin = None  # a typed user PIN is kept only where it must be
        signer = resolver.signer_for(key, mechanisms, certificate, context)
        signer._chain, signer._public_key = chain, public
        signer._parked = resolver.parked.pop(token.identity(), [])  # the signer closes them
        keep = resolver.sessions[token.identity()].session
        return signer
    finally:
        resolver.typed_pin = None
        resolver.close_all(keep=keep)


def _pin_uri(cert_uri: Pkcs11Uri | None, key_uri: Pkcs11Uri | None) -> Pkcs11Uri | None:
    """A PIN in the key URI wins (Go helper 8.4 step 2), else the certificate URI's."""
    if key_uri is not None and (key_uri.pin_value or key_uri.pin_source):
        return key_uri
    return cert_uri or key_uri


def _chain(options: SignerOptions, resolver: Resolver, cert_obj: CertObject) -> list[x509.Certificate]:
    """The intermediates: from --intermediates when given, else the issuers found on the token."""
    from rasign import certs as certfiles

    leaf = cert_obj.certificate
    chain = (
        certfiles.load_chain_bundle(options.intermediates)
        if options.intermediates
        else issuer_chain(leaf, resolver.token_certificates(cert_obj.token))
    )
    return certfiles.normalise_chain(leaf, chain)


def list_identities(options: SignerOptions) -> list[Identity]:
    """Every certificate the ``--certificate`` URI matches, each with its exact URI."""
    uri = parse(options.certificate or options.private_key or "pkcs11:")
    module = load_module(options, uri)
    resolver = Resolver(module, options, uri)
    try:
        tokens = matching_tokens(module.lib, uri.with_path(type=None))
        identities: list[Identity] = []
        search = uri.with_path(type=None)
        # With a PIN and a single token, list after login so private certificates show too;
        # with several tokens one PIN is never tried on each (every wrong try counts).
        login = len(tokens) == 1 and resolver.user_source is not None
        for token in tokens:
            certs = find_certificates(resolver.session(token, login=login), token, search)
            for cert in certs:
                where = f"{token.describe()}, object {cert.label!r}" + (
                    " (YubiKey attestation certificate)" if cert.is_attestation else ""
                )
                identities.append(
                    Identity(
                        certificate=cert.certificate,
                        where=where,
                        uri=cert.uri().format(),
                        has_private_key=not cert.is_attestation,
                    )
                )
        return identities
    finally:
        resolver.close_all()
