"""Find tokens, certificates and private keys that a ``pkcs11:`` URI names.

The search follows draft-woodhouse-cert-best-practice and the Go helper (reference-helper.md
8.3-8.5), with its quirks fixed: ``slot-id=0`` is a real filter, each listed certificate
carries its *own* token's attributes, and YubiKey PIV attestation certificates (which share
``CKA_ID`` with the slot's real certificate) are skipped.

Every object found knows its exact URI, so an ambiguous search can print one
ready-to-paste URI per candidate instead of "multiple matching certificates".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasign.backends.pkcs11.uri import Pkcs11Uri

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

log = logging.getLogger("rasign.pkcs11")

YUBICO_ATTESTATION_ARC = "1.3.6.1.4.1.41482.3."
"""Yubico's attestation extensions (firmware, serial, PIN/touch policy, form factor)."""
ATTESTATION_LABEL_PREFIX = "X.509 Certificate for PIV Attestation"
TOKEN_FILTERS = ("token", "manufacturer", "serial", "model")
SLOT_FILTERS = ("slot-description", "slot-manufacturer")


def field_text(value: Any) -> str:
    """A CK_UTF8CHAR field as text: cut at the first NUL, blank padding removed.

    PKCS#11 pads fixed-size fields with spaces, but some modules (CACKey) pad with NULs or
    a mix (``piv-auth-p256\\0 \\0``); shown raw, that ends up in URIs as ``%00%20%00``
    and no longer matches what the user typed.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    text = str(value)
    return text.split("\x00", 1)[0].rstrip(" \t")


@dataclass
class TokenRef:
    """A slot holding a token, with the identity needed to find the same token again."""

    slot: Any
    token: Any

    @property
    def label(self) -> str:
        return field_text(self.token.label)

    @property
    def serial(self) -> str:
        return field_text(self.token.serial)

    def identity(self) -> tuple[str, str, str, str]:
        """Label, serial, manufacturer, model: stable across removal and reinsertion."""
        return (self.label, self.serial, field_text(self.token.manufacturer_id), field_text(self.token.model))

    def uri(self) -> Pkcs11Uri:
        """The URI naming this token (label, manufacturer, model, serial)."""
        label, serial, manufacturer, model = self.identity()
        return Pkcs11Uri().with_path(token=label, manufacturer=manufacturer, model=model, serial=serial)

    def describe(self) -> str:
        return f"token {self.label!r} (serial {self.serial}, slot {self.slot.slot_id})"


@dataclass
class CertObject:
    """An X.509 certificate object on a token."""

    token: TokenRef
    certificate: x509.Certificate
    id: bytes
    label: str

    @property
    def is_attestation(self) -> bool:
        return is_attestation_certificate(self.certificate, self.label)

    def uri(self) -> Pkcs11Uri:
        return _object_uri(self.token, self.id, self.label, "cert")


@dataclass
class KeyObject:
    """A private key object on a token."""

    token: TokenRef
    handle: Any
    id: bytes
    label: str
    kind: str
    """``RSA`` or ``EC`` (other key types are skipped during the search)."""
    always_authenticate: bool

    def uri(self) -> Pkcs11Uri:
        return _object_uri(self.token, self.id, self.label, "private")


def _object_uri(token: TokenRef, object_id: bytes, label: str, kind: str) -> Pkcs11Uri:
    uri = token.uri()
    if object_id:
        uri = uri.with_path(id=object_id)
    if label:
        uri = uri.with_path(object=label)
    return uri.with_path(type=kind)


def is_attestation_certificate(certificate: x509.Certificate, label: str = "") -> bool:
    """True for YubiKey PIV attestation certificates (by label or Yubico extension)."""
    if label.startswith(ATTESTATION_LABEL_PREFIX):
        return True
    return any(ext.oid.dotted_string.startswith(YUBICO_ATTESTATION_ARC) for ext in certificate.extensions)


def library_matches(lib: Any, uri: Pkcs11Uri) -> bool:
    """Apply the ``library-*`` attributes to the loaded module."""
    wanted = uri.text("library-manufacturer")
    if wanted is not None and field_text(lib.manufacturer_id) != wanted:
        return False
    wanted = uri.text("library-description")
    if wanted is not None and field_text(lib.library_description) != wanted:
        return False
    version = uri.library_version
    return version is None or tuple(lib.library_version) == version


def matching_tokens(lib: Any, uri: Pkcs11Uri) -> list[TokenRef]:
    """Slots with a present token that satisfy the URI's slot, token and library filters."""
    from pkcs11 import TokenFlag
    from pkcs11.exceptions import PKCS11Error

    if not library_matches(lib, uri):
        return []
    found = []
    for slot in lib.get_slots(token_present=True):
        try:
            token = slot.get_token()
        except PKCS11Error as err:  # token removed meanwhile, or unrecognised: skip the slot
            log.debug("skipping slot %s: %s", slot.slot_id, type(err).__name__)
            continue
        ref = TokenRef(slot, token)
        if not token.flags & TokenFlag.TOKEN_INITIALIZED:
            continue  # an empty slot (SoftHSM's free slot, a blank card) holds nothing to find
        if uri.slot_id is not None and slot.slot_id != uri.slot_id:
            continue
        slot_values = {
            "slot-description": field_text(slot.slot_description),
            "slot-manufacturer": field_text(slot.manufacturer_id),
        }
        if any(uri.text(name) is not None and slot_values[name] != uri.text(name) for name in SLOT_FILTERS):
            continue
        label, serial, manufacturer, model = ref.identity()
        token_values = {"token": label, "serial": serial, "manufacturer": manufacturer, "model": model}
        if any(uri.text(name) is not None and token_values[name] != uri.text(name) for name in TOKEN_FILTERS):
            continue
        found.append(ref)
    return found


def object_template(uri: Pkcs11Uri, object_class: Any) -> dict[Any, Any]:
    """Search template for ``C_FindObjects`` from the URI's ``id``/``object``."""
    from pkcs11 import Attribute

    template: dict[Any, Any] = {Attribute.CLASS: object_class}
    if uri.id is not None:
        template[Attribute.ID] = uri.id
    if uri.object is not None:
        template[Attribute.LABEL] = uri.object
    return template


def _attribute(obj: Any, name: Any, default: Any) -> Any:
    from pkcs11.exceptions import PKCS11Error

    try:
        return obj[name]
    except (PKCS11Error, KeyError, ValueError):
        return default


def find_certificates(session: Any, token: TokenRef, uri: Pkcs11Uri) -> list[CertObject]:
    """Every X.509 certificate object matching the URI; unparsable ones are skipped."""
    from cryptography import x509
    from pkcs11 import Attribute, ObjectClass

    found = []
    for obj in session.get_objects(object_template(uri, ObjectClass.CERTIFICATE)):
        value = _attribute(obj, Attribute.VALUE, None)
        if not value:
            continue
        try:
            certificate = x509.load_der_x509_certificate(bytes(value))
        except ValueError:
            log.debug("skipping an unparsable certificate object on %s", token.describe())
            continue
        object_id = bytes(_attribute(obj, Attribute.ID, b"") or b"")
        found.append(CertObject(token, certificate, object_id, field_text(_attribute(obj, Attribute.LABEL, "") or "")))
    return found


def find_keys(session: Any, token: TokenRef, uri: Pkcs11Uri) -> list[KeyObject]:
    """Every RSA or EC private key object matching the URI's ``id``/``object``."""
    from pkcs11 import Attribute, KeyType, ObjectClass

    kinds = {KeyType.RSA: "RSA", KeyType.EC: "EC"}
    found = []
    for obj in session.get_objects(object_template(uri, ObjectClass.PRIVATE_KEY)):
        kind = kinds.get(_attribute(obj, Attribute.KEY_TYPE, None))
        if kind is None:
            log.debug("skipping a private key of unsupported type on %s", token.describe())
            continue
        found.append(
            KeyObject(
                token=token,
                handle=with_sign_capability(obj, token),
                id=bytes(_attribute(obj, Attribute.ID, b"") or b""),
                label=field_text(_attribute(obj, Attribute.LABEL, "") or ""),
                kind=kind,
                always_authenticate=bool(_attribute(obj, Attribute.ALWAYS_AUTHENTICATE, False)),
            )
        )
    return found


def with_sign_capability(obj: Any, token: TokenRef) -> Any:
    """The key object, able to sign even when python-pkcs11 built it without ``sign``.

    python-pkcs11 gives an object its ``sign`` method only when a bulk ``C_GetAttributeValue``
    of ten flags reports ``CKA_SIGN``; CACKey answers that call in a way that leaves it out
    although the key signs. The signature still goes through the same session and object
    handle (python-pkcs11's own ``SignMixin`` on the same wrapper), so nothing is emulated.
    """
    if hasattr(obj, "sign"):
        return obj
    try:
        from pkcs11 import _pkcs11

        signing = type(type(obj).__name__, (_pkcs11.SignMixin, type(obj)), {})  # type: ignore[attr-defined]
        return signing(obj.wrapper)
    except Exception as err:  # noqa: BLE001 - a future python-pkcs11 layout: say so at sign time
        log.debug("cannot give the key object on %s a sign method: %s", token.describe(), type(err).__name__)
        return obj


def key_public_key(session: Any, key: KeyObject) -> PublicKeyTypes | None:
    """The key's public half from the token: its public key object, or RSA attributes."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    from pkcs11 import Attribute, ObjectClass

    if key.id:
        for obj in session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key.id}):
            try:
                if key.kind == "EC":
                    from pkcs11.util.ec import encode_ec_public_key

                    return load_der_public_key(encode_ec_public_key(obj))
                modulus, exponent = obj[Attribute.MODULUS], obj[Attribute.PUBLIC_EXPONENT]
                return rsa.RSAPublicNumbers(
                    int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")
                ).public_key()
            except Exception as err:  # noqa: BLE001 - a malformed public object must not stop signing
                log.debug("unusable public key object: %s", type(err).__name__)
    if (
        key.kind == "EC"
        and _attribute(key.handle, Attribute.EC_POINT, None)
        and _attribute(key.handle, Attribute.EC_PARAMS, None)
    ):
        try:  # some modules (OpenSC, YubiKey) expose the point on the private key as well
            from pkcs11.util.ec import encode_ec_public_key

            return load_der_public_key(encode_ec_public_key(key.handle))
        except Exception as err:  # noqa: BLE001 - optional attribute, vendor-specific content
            log.debug("unusable EC point on the private key: %s", type(err).__name__)
    if key.kind == "RSA":
        modulus = _attribute(key.handle, Attribute.MODULUS, None)
        exponent = _attribute(key.handle, Attribute.PUBLIC_EXPONENT, None)
        if modulus and exponent:
            return rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")).public_key()
    return None


def issuer_chain(leaf: x509.Certificate, pool: list[x509.Certificate]) -> list[x509.Certificate]:
    """Intermediates from the token: real issuers (signature checked), leaf and roots excluded."""
    chain: list[x509.Certificate] = []
    current = leaf
    while len(chain) < 5:
        issuer = next(
            (
                c
                for c in pool
                if c.subject == current.issuer and c not in chain and c != current and _signed_by(current, c)
            ),
            None,
        )
        if issuer is None or issuer.subject == issuer.issuer:  # stop at a self-signed root
            break
        chain.append(issuer)
        current = issuer
    return chain


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # noqa: BLE001 - unsupported or malformed signature: not the issuer
        return False
    return True
