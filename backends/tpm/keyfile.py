"""TSS2 PRIVATE KEY files (draft-bottomley-tpm2-keys), read without touching the TPM.

The format is what tpm2-openssl, the TPM2 OpenSSL engines and GnuTLS write::

    TPMKey ::= SEQUENCE {
        type        OBJECT IDENTIFIER,                       -- .1.3 loadable, .1.4 importable
        emptyAuth   [0] EXPLICIT BOOLEAN OPTIONAL,
        policy      [1] EXPLICIT SEQUENCE OF TPMPolicy OPTIONAL,
        secret      [2] EXPLICIT OCTET STRING OPTIONAL,       -- importable: encrypted seed
        authPolicy  [3] EXPLICIT SEQUENCE OF TPMAuthPolicy OPTIONAL,
        description [4] EXPLICIT UTF8String OPTIONAL,
        rsaParent   [5] EXPLICIT BOOLEAN OPTIONAL,
        parent      INTEGER,
        pubkey      OCTET STRING,                             -- TPM2B_PUBLIC
        privkey     OCTET STRING }                            -- TPM2B_PRIVATE
    TPMPolicy ::= SEQUENCE { commandCode [0] EXPLICIT INTEGER,
                             commandPolicy [1] EXPLICIT OCTET STRING }

Everything is checked here, before the TPM is opened, so that a key we cannot use
fails with a message about the *file* rather than a TPM error code. Fields we do not
implement (signed policies) are refused by name: ignoring them would either fail later
with an opaque TPM error or, worse, weaken the key's policy.

Importable keys (made off the TPM and wrapped for one TPM's storage key) carry the
duplicate in ``privkey`` and the encrypted seed in ``secret``; the signer imports them
with TPM2_Import before loading.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from rasign.errors import KeyLoadError

from . import der

LOADABLE_KEY_OID = "2.23.133.10.1.3"
IMPORTABLE_KEY_OID = "2.23.133.10.1.4"
SEALED_KEY_OID = "2.23.133.10.1.5"

PEM_LABEL = "TSS2 PRIVATE KEY"
TSS2_PEM_HEADER = b"-----BEGIN TSS2 PRIVATE KEY-----"
TSS2_PEM_FOOTER = b"-----END TSS2 PRIVATE KEY-----"

OWNER_HIERARCHY = 0x40000001
NULL_HIERARCHY = 0x40000007
ENDORSEMENT_HIERARCHY = 0x4000000B
PLATFORM_HIERARCHY = 0x4000000C
HIERARCHIES = {
    OWNER_HIERARCHY: "owner",
    NULL_HIERARCHY: "null",
    ENDORSEMENT_HIERARCHY: "endorsement",
    PLATFORM_HIERARCHY: "platform",
}


def is_persistent_handle(handle: int) -> bool:
    """True for handles in the persistent object range 0x81000000-0x81FFFFFF."""
    return 0x81000000 <= handle <= 0x81FFFFFF


@dataclass(frozen=True)
class PolicyCommand:
    """One step of a key's policy: a TPM2_Policy* command code and its parameter bytes."""

    command_code: int
    parameters: bytes = b""

    def to_der(self) -> bytes:
        """Encode as a TPMPolicy SEQUENCE."""
        body = der.explicit(0, der.encode_integer(self.command_code))
        body += der.explicit(1, der.encode(der.TAG_OCTET_STRING, self.parameters))
        return der.encode(der.TAG_SEQUENCE, body)


@dataclass
class TpmKeyFile:
    """The parsed content of a loadable TSS2 key file.

    ``public`` and ``private`` keep their TPM2B size prefix, exactly as in the file.
    """

    parent: int
    public: bytes
    private: bytes
    empty_auth: bool = False
    policy: list[PolicyCommand] = field(default_factory=list)
    description: str | None = None
    rsa_parent: bool = False
    importable: bool = False
    secret: bytes = b""
    """For importable keys: the marshalled TPM2B_ENCRYPTED_SECRET (the wrapping seed)."""
    source: str = "<memory>"

    @property
    def parent_is_hierarchy(self) -> bool:
        """True when the parent is re-created as a primary under a hierarchy."""
        return self.parent in HIERARCHIES

    def to_der(self) -> bytes:
        """Encode in the same field order readers expect (used by tests and tools)."""
        body = der.encode_oid(IMPORTABLE_KEY_OID if self.importable else LOADABLE_KEY_OID)
        body += der.explicit(0, der.encode(der.TAG_BOOLEAN, b"\xff" if self.empty_auth else b"\x00"))
        if self.policy:
            body += der.explicit(1, der.encode(der.TAG_SEQUENCE, b"".join(p.to_der() for p in self.policy)))
        if self.importable:
            body += der.explicit(2, der.encode(der.TAG_OCTET_STRING, self.secret))
        if self.description is not None:
            body += der.explicit(4, der.encode(der.TAG_UTF8, self.description.encode("utf-8")))
        if self.rsa_parent:
            body += der.explicit(5, der.encode(der.TAG_BOOLEAN, b"\xff"))
        body += der.encode_integer(self.parent)
        body += der.encode(der.TAG_OCTET_STRING, self.public)
        body += der.encode(der.TAG_OCTET_STRING, self.private)
        return der.encode(der.TAG_SEQUENCE, body)

    def to_pem(self) -> bytes:
        """PEM armour with the ``TSS2 PRIVATE KEY`` label."""
        b64 = base64.b64encode(self.to_der())
        lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
        return TSS2_PEM_HEADER + b"\n" + b"\n".join(lines) + b"\n" + TSS2_PEM_FOOTER + b"\n"


def holds_tss2_key(path: str) -> bool:
    """True when ``path`` is a regular file holding a ``TSS2 PRIVATE KEY`` PEM block.

    The one test of "is this a TPM key file" (backend choice, certificate lookup). Only
    regular files are read, without blocking, so a FIFO or device never hangs the choice.
    """
    if not path or path.startswith(("pkcs11:", "handle:")):
        return False
    from rasign.localfile import NotReadable, read_regular

    try:
        return TSS2_PEM_HEADER in read_regular(path, limit=1 << 20, head=True)
    except NotReadable:
        return False


def key_needs_password(path: str) -> bool:
    """Whether the TSS2 key at ``path`` has an auth value (no ``emptyAuth`` TRUE).

    A file that cannot be read or parsed counts as needing one: the caller only uses this
    to decide whether a person may be asked, and opening the key reports the real problem.
    """
    from rasign.localfile import NotReadable, read_regular

    try:
        return not parse_key_bytes(read_regular(path, limit=1 << 20), path).empty_auth
    except (NotReadable, KeyLoadError):
        return True


def read_key_file(path: str) -> TpmKeyFile:
    """Read and validate a TSS2 key file (PEM, or raw DER)."""
    from rasign.certs import read_bytes

    return parse_key_bytes(read_bytes(path, "TPM key"), path)


def parse_key_bytes(data: bytes, source: str = "<memory>") -> TpmKeyFile:
    """Parse PEM (the first TSS2 PRIVATE KEY block) or DER bytes.

    DER is recognised by its leading SEQUENCE tag first: a binary key can contain the bytes
    of a PEM header anywhere in its blobs, and must not be mistaken for text.
    """
    # str.find, not a regular expression: a lazy pattern rescans to the end of the input for
    # each BEGIN when no END follows (minutes for a 1 MB file of BEGIN lines).
    begin, end_marker = TSS2_PEM_HEADER, TSS2_PEM_FOOTER
    start = -1 if data[:1] == b"\x30" else data.find(begin)
    end = data.find(end_marker, start + len(begin)) if start >= 0 else -1
    if end >= 0:
        try:
            blob = base64.b64decode(b"".join(data[start + len(begin) : end].split()), validate=True)
        except ValueError as err:
            raise KeyLoadError(f"the TSS2 PRIVATE KEY block in {source} is not valid base64") from err
    elif b"-----BEGIN" in data and data[:1] != b"\x30":
        raise KeyLoadError(
            f"{source} holds no TSS2 PRIVATE KEY block",
            hint="pass the key file written by tpm2-openssl, a TPM2 engine or tpm2tss-genkey",
        )
    else:
        blob = data
    try:
        return _parse_der(blob, source)
    except der.DerError as err:
        raise KeyLoadError(f"malformed TSS2 key file {source}: {err}") from err


def _parse_der(blob: bytes, source: str) -> TpmKeyFile:
    outer, end = der.read_tlv(blob)
    if outer.tag != der.TAG_SEQUENCE or blob[end:].strip(b"\x00"):
        raise der.DerError("not a single ASN.1 SEQUENCE")
    items = der.read_all(outer.content)
    if not items or items[0].tag != der.TAG_OID:
        raise der.DerError("the first field must be the key type OID")
    importable = _check_type(der.decode_oid(items[0].content), source)
    rest = items[1:]
    optional: dict[str, Any] = {}
    while rest and rest[0].context_number is not None:
        _read_optional_field(rest.pop(0), importable, source, optional)
    parent, public, private = _read_required_fields(rest, source)
    secret = optional.get("secret", b"")
    if importable:
        if not secret:
            raise KeyLoadError(
                f"importable TPM key {source} has no 'secret' field (the wrapping seed)", hint="the key file is damaged"
            )
        _check_tpm2b(secret, "encrypted seed", source)
    return TpmKeyFile(parent=parent, public=public, private=private, importable=importable, source=source, **optional)


def _read_optional_field(tagged: der.Tlv, importable: bool, source: str, fields: dict[str, Any]) -> None:
    """Read one explicitly tagged field [0]..[5] into ``fields`` (TpmKeyFile's names); refuse the rest."""
    number = tagged.context_number
    inner, after = der.read_tlv(tagged.content)
    if after != len(tagged.content):
        raise der.DerError(f"field [{number}] has trailing bytes")
    if number == 0:
        _expect(inner, der.TAG_BOOLEAN, "emptyAuth")
        fields["empty_auth"] = der.decode_boolean(inner.content)
    elif number == 1:
        _expect(inner, der.TAG_SEQUENCE, "policy")
        fields["policy"] = [_parse_policy(item) for item in der.read_all(inner.content)]
    elif number == 2:
        if not importable:
            raise KeyLoadError(
                f"TPM key {source} has a 'secret' field, which only importable keys carry",
                hint="the file is damaged, or its type OID should say importable (2.23.133.10.1.4)",
            )
        _expect(inner, der.TAG_OCTET_STRING, "secret")
        fields["secret"] = inner.content
    elif number == 3:
        raise KeyLoadError(
            f"TPM key {source} uses signed policies (authPolicy), which rasign does not support",
            hint="use a key bound directly to a PCR policy and/or a password",
        )
    elif number == 4:
        _expect(inner, der.TAG_UTF8, "description")
        fields["description"] = inner.content.decode("utf-8", "replace")
    elif number == 5:
        _expect(inner, der.TAG_BOOLEAN, "rsaParent")
        fields["rsa_parent"] = der.decode_boolean(inner.content)
    else:
        raise KeyLoadError(
            f"TPM key {source} has an unknown field [{number}]",
            hint="the file was written by a newer tool; re-export it without that field",
        )


def _read_required_fields(rest: list[der.Tlv], source: str) -> tuple[int, bytes, bytes]:
    """The parent handle and the TPM2B public and private blobs that end every key."""
    if len(rest) != 3:
        raise der.DerError("expected parent, pubkey and privkey after the optional fields")
    parent_tlv, pub_tlv, priv_tlv = rest
    _expect(parent_tlv, der.TAG_INTEGER, "parent")
    _expect(pub_tlv, der.TAG_OCTET_STRING, "pubkey")
    _expect(priv_tlv, der.TAG_OCTET_STRING, "privkey")
    parent = der.decode_integer(parent_tlv.content) & 0xFFFFFFFF
    if parent not in HIERARCHIES and not is_persistent_handle(parent):
        raise KeyLoadError(
            f"TPM key {source} names parent 0x{parent:08x}, which is neither a hierarchy nor a persistent handle",
            hint="the parent must be 0x40000001 (owner) or a persistent key 0x81xxxxxx",
        )
    _check_tpm2b(pub_tlv.content, "PUBLIC", source)
    _check_tpm2b(priv_tlv.content, "PRIVATE", source)
    return parent, pub_tlv.content, priv_tlv.content


def _check_type(oid: str, source: str) -> bool:
    """True for an importable key, False for a loadable one; anything else is refused."""
    if oid == LOADABLE_KEY_OID:
        return False
    if oid == IMPORTABLE_KEY_OID:
        return True
    if oid == SEALED_KEY_OID:
        raise KeyLoadError(f"{source} holds TPM sealed data (OID {oid}), not a signing key")
    raise KeyLoadError(f"{source} is not a TPM 2.0 loadable or importable key (type OID {oid})")


def _expect(tlv: der.Tlv, tag: int, name: str) -> None:
    if tlv.tag != tag:
        raise der.DerError(f"field {name} has ASN.1 tag 0x{tlv.tag:02x}, expected 0x{tag:02x}")


def _check_tpm2b(blob: bytes, what: str, source: str) -> None:
    if len(blob) < 2 or int.from_bytes(blob[:2], "big") != len(blob) - 2:
        raise KeyLoadError(f"invalid length for the TPM {what} blob in {source}", hint="the key file is damaged")


def _parse_policy(item: der.Tlv) -> PolicyCommand:
    _expect(item, der.TAG_SEQUENCE, "TPMPolicy")
    fields = der.read_all(item.content)
    if len(fields) != 2 or fields[0].context_number != 0 or fields[1].context_number != 1:
        raise der.DerError("TPMPolicy must hold [0] commandCode and [1] commandPolicy")
    code_tlv, _ = der.read_tlv(fields[0].content)
    params_tlv, _ = der.read_tlv(fields[1].content)
    _expect(code_tlv, der.TAG_INTEGER, "commandCode")
    _expect(params_tlv, der.TAG_OCTET_STRING, "commandPolicy")
    return PolicyCommand(der.decode_integer(code_tlv.content), params_tlv.content)
