"""TSS2 PRIVATE KEY parsing without a TPM: accepted variants and refusals by name.

The blobs inside are placeholders with valid TPM2B lengths; only the ASN.1 around them
matters here. Real key files from tpm2-openssl and tpm2-tools are covered by the swtpm
tests.
"""

from __future__ import annotations

import base64

import pytest

from rasign.backends.tpm import der, parse_handle
from rasign.backends.tpm.keyfile import (
    IMPORTABLE_KEY_OID,
    LOADABLE_KEY_OID,
    OWNER_HIERARCHY,
    SEALED_KEY_OID,
    PolicyCommand,
    TpmKeyFile,
    parse_key_bytes,
)
from rasign.backends.tpm.policy import check_supported
from rasign.errors import KeyLoadError, UsageError

PUBLIC = b"\x00\x04" + b"\x00\x23\x00\x0b"
PRIVATE = b"\x00\x02\xaa\xbb"


def key_der(
    *fields: bytes,
    oid: str = LOADABLE_KEY_OID,
    parent: int = OWNER_HIERARCHY,
    public: bytes = PUBLIC,
    private: bytes = PRIVATE,
) -> bytes:
    body = der.encode_oid(oid) + b"".join(fields) + der.encode_integer(parent)
    body += der.encode(der.TAG_OCTET_STRING, public) + der.encode(der.TAG_OCTET_STRING, private)
    return der.encode(der.TAG_SEQUENCE, body)


def pem(blob: bytes) -> bytes:
    return b"-----BEGIN TSS2 PRIVATE KEY-----\n" + base64.encodebytes(blob) + b"-----END TSS2 PRIVATE KEY-----\n"


def test_round_trip_with_every_supported_field():
    key = TpmKeyFile(
        parent=0x81000001,
        public=PUBLIC,
        private=PRIVATE,
        empty_auth=False,
        policy=[PolicyCommand(0x17F, b"\x00\x00\x00\x00\x00\x00"), PolicyCommand(0x16B)],
        description="a key",
        rsa_parent=True,
    )
    parsed = parse_key_bytes(key.to_pem(), "k.pem")
    assert (parsed.parent, parsed.public, parsed.private, parsed.empty_auth) == (0x81000001, PUBLIC, PRIVATE, False)
    assert parsed.policy == key.policy and parsed.description == "a key" and parsed.rsa_parent
    assert parse_key_bytes(key.to_der()).public == PUBLIC  # DER without armour too


def test_non_der_true_written_by_older_engines_is_accepted():
    """``A0 03 01 01 01``: BOOLEAN TRUE as 01 instead of FF (tpm2-tss-engine, early tpm2-openssl)."""
    blob = key_der(der.explicit(0, der.encode(der.TAG_BOOLEAN, b"\x01")))
    assert parse_key_bytes(pem(blob)).empty_auth is True


def test_text_around_the_pem_block_is_ignored():
    data = b"Bag Attributes\n" + pem(key_der()) + b"trailing\n"
    assert parse_key_bytes(data).empty_auth is False


@pytest.mark.parametrize(
    "oid, fragment",
    [
        (IMPORTABLE_KEY_OID, "has no 'secret' field"),
        (SEALED_KEY_OID, "sealed data"),
        ("1.2.3.4", "not a TPM 2.0 loadable or importable key"),
    ],
)
def test_other_key_types_are_refused_by_name(oid, fragment):
    with pytest.raises(KeyLoadError, match=fragment):
        parse_key_bytes(pem(key_der(oid=oid)), "k.pem")


@pytest.mark.parametrize(
    "number, inner, fragment",
    [
        (2, der.encode(der.TAG_OCTET_STRING, b"secret"), "'secret' field"),
        (3, der.encode(der.TAG_SEQUENCE, b""), "signed policies"),
        (6, der.encode(der.TAG_BOOLEAN, b"\xff"), r"unknown field \[6\]"),
    ],
)
def test_fields_rasign_does_not_implement_are_refused(number, inner, fragment):
    with pytest.raises(KeyLoadError, match=fragment):
        parse_key_bytes(pem(key_der(der.explicit(number, inner))))


@pytest.mark.parametrize("parent", [0, 0x80000000, 0x01000001])
def test_parent_must_be_a_hierarchy_or_persistent(parent):
    with pytest.raises(KeyLoadError, match="neither a hierarchy nor a persistent handle"):
        parse_key_bytes(pem(key_der(parent=parent)))


@pytest.mark.parametrize("public, private, what", [(b"\x00\x09abc", PRIVATE, "PUBLIC"), (PUBLIC, b"\x00", "PRIVATE")])
def test_tpm2b_lengths_are_checked(public, private, what):
    with pytest.raises(KeyLoadError, match=f"invalid length for the TPM {what} blob"):
        parse_key_bytes(pem(key_der(public=public, private=private)))


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "no TSS2 PRIVATE KEY block"),
        (b"-----BEGIN TSS2 PRIVATE KEY-----\n!!!!\n-----END TSS2 PRIVATE KEY-----\n", "not valid base64"),
        (pem(b"\x30\x03\x02\x01"), "malformed TSS2 key file"),
        (b"\x30\x00", "malformed TSS2 key file"),
    ],
)
def test_garbage_is_one_clear_error(data, fragment):
    with pytest.raises(KeyLoadError, match=fragment):
        parse_key_bytes(data)


def test_unsupported_policy_steps_are_named():
    check_supported([PolicyCommand(0x17F, b""), PolicyCommand(0x16B), PolicyCommand(0x18C)], "k.pem")
    with pytest.raises(KeyLoadError, match="TPM2_PolicyOR"):
        check_supported([PolicyCommand(0x171, b"")], "k.pem")
    with pytest.raises(KeyLoadError, match="command 0x999"):
        check_supported([PolicyCommand(0x999, b"")], "k.pem")


@pytest.mark.parametrize(
    "spec, value",
    [("handle:0x81000101", 0x81000101), ("handle:81000101", 0x81000101), ("handle:0X810000FF", 0x810000FF)],
)
def test_handle_syntax(spec, value):
    assert parse_handle(spec) == value


def test_der_oid_round_trip():
    for oid in (LOADABLE_KEY_OID, "1.2.840.113549.1.1.11", "2.999.3"):
        tlv, _ = der.read_tlv(der.encode_oid(oid))
        assert der.decode_oid(tlv.content) == oid


def test_pcr_selection_syntax():
    from rasign.backends.tpm.policy import parse_pcr_selection

    selection = parse_pcr_selection("sha256:0,7+sha1:2")
    assert selection.count == 2
    for bad in ("sha256", "md5:1", "sha256:24", "sha256:1,,2", ""):
        with pytest.raises(UsageError, match="--tpm-pcrs"):
            parse_pcr_selection(bad)


def test_importable_key_round_trip():
    secret = b"\x00\x03abc"
    key = TpmKeyFile(
        parent=OWNER_HIERARCHY, public=PUBLIC, private=PRIVATE, empty_auth=True, importable=True, secret=secret
    )
    parsed = parse_key_bytes(key.to_pem())
    assert parsed.importable and parsed.secret == secret
    with pytest.raises(KeyLoadError, match="invalid length for the TPM encrypted seed blob"):
        parse_key_bytes(
            pem(key_der(der.explicit(2, der.encode(der.TAG_OCTET_STRING, b"\x00\x09")), oid=IMPORTABLE_KEY_OID))
        )
