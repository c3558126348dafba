"""DN rendering (Go's ``pkix.Name.String()``) and lenient DN matching.

The expected strings below were produced by Go 1.19's ``crypto/x509`` (``ParseCertificate``
then ``Subject.String()``) from certificates carrying exactly these names, built with the
same ``cryptography`` calls; the certificates are rebuilt here at test time.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier

from rasign.backends.store.selector import CertSelector
from rasign.x509names import (
    dn_matches,
    go_dn_string,
    normalised_dn,
    parse_dn_text,
)

from .conftest import make_cert

A = x509.NameAttribute


def name(*rdns) -> x509.Name:
    return x509.Name([x509.RelativeDistinguishedName(list(r) if isinstance(r, (list, tuple)) else [r]) for r in rdns])


def _empty_values_name() -> x509.Name:
    import warnings

    with warnings.catch_warnings():  # cryptography warns about the (deliberately) empty values
        warnings.simplefilter("ignore", UserWarning)
        return name(
            *(A(oid, "", _validate=False) for oid in (NameOID.COMMON_NAME, NameOID.SERIAL_NUMBER, NameOID.COUNTRY_NAME))
        )


GO_RENDERED = {
    "simple": (
        name(
            A(NameOID.COUNTRY_NAME, "US"), A(NameOID.ORGANIZATION_NAME, "rasign"), A(NameOID.COMMON_NAME, "rasign KAT")
        ),
        "CN=rasign KAT,O=rasign,C=US",
    ),
    "escapes": (
        name(
            A(NameOID.COMMON_NAME, 'a,b+c"d\\e<f>g;h'),
            A(NameOID.ORGANIZATION_NAME, "#hash"),
            A(NameOID.ORGANIZATIONAL_UNIT_NAME, " lead and trail "),
        ),
        'CN=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h,OU=\\ lead and trail\\ ,O=\\#hash',
    ),
    "multi_valued_rdns": (
        name(
            [A(NameOID.COMMON_NAME, "x"), A(NameOID.ORGANIZATION_NAME, "y")],
            [A(NameOID.ORGANIZATIONAL_UNIT_NAME, "b"), A(NameOID.ORGANIZATIONAL_UNIT_NAME, "a")],
            A(NameOID.ORGANIZATIONAL_UNIT_NAME, "c"),
        ),
        "CN=x,OU=a+OU=b+OU=c,O=y",
    ),
    "last_cn_and_serialnumber_win": (
        name(
            A(NameOID.COMMON_NAME, "first"),
            A(NameOID.COMMON_NAME, "second"),
            A(NameOID.SERIAL_NUMBER, "123"),
            A(NameOID.SERIAL_NUMBER, "456"),
        ),
        "SERIALNUMBER=456,CN=second",
    ),
    "non_ascii": (
        name(
            A(NameOID.COMMON_NAME, "Zoë Ω 日本"),
            A(NameOID.LOCALITY_NAME, "Zürich"),
            A(NameOID.STATE_OR_PROVINCE_NAME, "ÎdF"),
        ),
        "CN=Zoë Ω 日本,L=Zürich,ST=ÎdF",
    ),
    "unnamed_types_hex_in_reverse_order": (
        name(
            A(NameOID.DOMAIN_COMPONENT, "com"),
            A(NameOID.DOMAIN_COMPONENT, "example"),
            A(NameOID.EMAIL_ADDRESS, "a@b.c"),
            A(NameOID.USER_ID, "u1"),
            A(NameOID.TITLE, "Dr*&x"),
            A(NameOID.COMMON_NAME, "n"),
        ),
        (
            "CN=n,2.5.4.12=#0c0544722a2678,0.9.2342.19200300.100.1.1=#13027531,1.2.840.113549.1.9.1=#0c056140622e63,"
            "0.9.2342.19200300.100.1.25=#13076578616d706c65,0.9.2342.19200300.100.1.25=#1303636f6d"
        ),
    ),
    "canonical_order_of_named_types": (
        name(
            A(NameOID.COUNTRY_NAME, "DE"),
            A(NameOID.STATE_OR_PROVINCE_NAME, "BY"),
            A(NameOID.LOCALITY_NAME, "M"),
            A(NameOID.STREET_ADDRESS, "Str 1"),
            A(NameOID.POSTAL_CODE, "80331"),
            A(NameOID.ORGANIZATION_NAME, "O1"),
            A(NameOID.ORGANIZATION_NAME, "O2"),
            A(NameOID.ORGANIZATIONAL_UNIT_NAME, "U"),
            A(NameOID.COMMON_NAME, "C"),
            A(NameOID.SERIAL_NUMBER, "S"),
        ),
        "SERIALNUMBER=S,CN=C,OU=U,O=O1+O=O2,POSTALCODE=80331,STREET=Str 1,L=M,ST=BY,C=DE",
    ),
    "bmp_strings": (
        name(
            A(NameOID.COMMON_NAME, "bmp é", _type=_ASN1Type.BMPString),
            A(NameOID.GIVEN_NAME, "Gé", _type=_ASN1Type.BMPString),
        ),
        "CN=bmp é,2.5.4.42=#0c0347c3a9",
    ),
    "ia5_reencoded": (
        name(
            A(NameOID.COMMON_NAME, "ia5@x", _type=_ASN1Type.IA5String),
            A(ObjectIdentifier("1.2.3.4"), "plain", _type=_ASN1Type.IA5String),
        ),
        "CN=ia5@x,1.2.3.4=#1305706c61696e",
    ),
    "t61": (
        name(
            A(NameOID.COMMON_NAME, "t61", _type=_ASN1Type.T61String),
            A(ObjectIdentifier("1.2.3.5"), "t61o", _type=_ASN1Type.T61String),
        ),
        "CN=t61,1.2.3.5=#13047436316f",
    ),
    "long_value_long_form_length": (
        name(A(NameOID.COMMON_NAME, "L" * 64), A(ObjectIdentifier("2.5.4.13"), "D" * 150)),
        "CN=" + "L" * 64 + ",2.5.4.13=#138196" + "44" * 150,
    ),
    "empty_values": (
        name(A(NameOID.PSEUDONYM, ""), A(NameOID.ORGANIZATION_NAME, "")),
        "O=,2.5.4.65=#1300",
    ),
    "printable_set": (
        name(A(ObjectIdentifier("2.5.4.12"), "a b'()+,-./:=?Z"), A(ObjectIdentifier("2.5.4.42"), "under_score")),
        "2.5.4.42=#0c0b756e6465725f73636f7265,2.5.4.12=#130f6120622728292b2c2d2e2f3a3d3f5a",
    ),
    "inner_hash_and_trailing_space": (
        name(A(NameOID.COUNTRY_NAME, "US", _type=_ASN1Type.UTF8String), A(NameOID.COMMON_NAME, "x#y ")),
        "CN=x#y\\ ,C=US",
    ),
    "multibyte_at_the_edges": (
        name(A(NameOID.COMMON_NAME, "é "), A(NameOID.ORGANIZATION_NAME, " é")),
        "CN=é\\ ,O=\\ é",
    ),
    "empty_cn_and_serialnumber_vanish": (
        _empty_values_name(),
        "C=",
    ),
}


@pytest.mark.parametrize("case", sorted(GO_RENDERED))
def test_go_rendering_matches_go(case: str) -> None:
    dn, expected = GO_RENDERED[case]
    assert go_dn_string(dn.public_bytes()) == expected


@pytest.mark.parametrize("case", sorted(GO_RENDERED))
@pytest.mark.filterwarnings("ignore:Attribute")
def test_go_string_selects_its_certificate_exactly(case: str) -> None:
    dn, expected = GO_RENDERED[case]
    cert, _ = make_cert(dn)
    assert CertSelector(subject=expected).matches(cert) or expected == ""
    assert CertSelector(issuer=expected).matches(cert) or expected == ""


def test_reference_example() -> None:
    # reference-helper.md 10.1: subject C=US, O=rasign, CN=rasign KAT
    dn = name(
        A(NameOID.COUNTRY_NAME, "US"), A(NameOID.ORGANIZATION_NAME, "rasign"), A(NameOID.COMMON_NAME, "rasign KAT")
    )
    assert go_dn_string(dn.public_bytes()) == "CN=rasign KAT,O=rasign,C=US"


WEB = name(
    A(NameOID.COUNTRY_NAME, "US"),
    A(NameOID.ORGANIZATION_NAME, "Acme, Inc."),
    [A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Ops"), A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Web")],
    A(NameOID.EMAIL_ADDRESS, "ops@acme.example"),
    A(NameOID.COMMON_NAME, "Zoë  Web"),
)


@pytest.mark.parametrize(
    "written",
    [
        "CN=Zoë  Web,OU=Ops+OU=Web,O=Acme\\, Inc.,C=US,1.2.840.113549.1.9.1=#0c106f70734061636d652e6578616d706c65",  # Go
        "CN=Zoë Web, OU=Ops+OU=Web, O=Acme\\, Inc., C=US, E=ops@acme.example",  # Windows-ish, one space
        'c=us;o="Acme, Inc.";ou=web;ou=ops;emailAddress=OPS@ACME.EXAMPLE;cn=zoë web',  # any order, case, quotes
        "/C=US/O=Acme, Inc./OU=Ops/OU=Web/emailAddress=ops@acme.example/CN=Zoë Web",  # OpenSSL oneline
        "CN=Zo\\c3\\ab Web,OU=Ops,OU=Web,O=Acme\\2C Inc.,C=US,OID.1.2.840.113549.1.9.1=ops@acme.example",  # hex escapes
        "CN=ZOË WEB,OU=OPS,OU=WEB,O=ACME\\, INC.,C=US,EMAIL=ops@acme.example",
    ],
)
def test_lenient_dn_matching(written: str) -> None:
    cert, _ = make_cert(WEB)
    assert dn_matches(written, WEB.public_bytes())
    assert CertSelector(subject=written).matches(cert)


@pytest.mark.parametrize(
    "written",
    [
        "CN=Zoë Web,OU=Ops,O=Acme\\, Inc.,C=US,E=ops@acme.example",  # one OU missing
        "CN=Zoë Web,OU=Ops,OU=Web,OU=Web,O=Acme\\, Inc.,C=US,E=ops@acme.example",  # one OU too many
        "CN=Zoe Web,OU=Ops,OU=Web,O=Acme\\, Inc.,C=US,E=ops@acme.example",  # accents matter
        "CN=Zoë Web",  # a subset is not the DN (use x509SubjectContains for that)
        "Zoë Web",  # not a DN at all
        "CN=Zoë Web,XX=1,OU=Ops,OU=Web,O=Acme\\, Inc.,C=US,E=ops@acme.example",  # unknown attribute name
    ],
)
def test_lenient_matching_is_not_loose(written: str) -> None:
    assert not dn_matches(written, WEB.public_bytes())


def test_hex_values_decode_for_lenient_comparison() -> None:
    parsed = parse_dn_text("CN=#0c0378797a")
    assert parsed is not None and parsed == normalised_dn(name(A(NameOID.COMMON_NAME, "XYZ")).public_bytes())


def test_rdn_sequence_in_either_direction_matches() -> None:
    forward = "C=US,O=Acme\\, Inc.,OU=Ops+OU=Web,E=ops@acme.example,CN=Zoë  Web"
    assert dn_matches(forward, WEB.public_bytes())


def test_subject_contains_is_case_insensitive_substring() -> None:
    cert, _ = make_cert(WEB)
    assert CertSelector(subject_contains="zoë").matches(cert)
    assert CertSelector(subject_contains="acme\\, inc").matches(cert)
    assert CertSelector(subject_contains="Acme, Inc").matches(cert)  # RFC 4514 text of cryptography
    assert not CertSelector(subject_contains="globex").matches(cert)


def test_issuer_serial_and_thumbprint_matching() -> None:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    cert, _ = make_cert("CN=leaf", issuer="CN=Issuing CA,O=Acme", serial=0x00ABCDEF)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert CertSelector(issuer="CN=Issuing CA,O=Acme", serial=0xABCDEF).matches(cert)
    assert CertSelector(issuer="o=acme, cn=issuing ca").matches(cert)
    assert not CertSelector(issuer="CN=Issuing CA").matches(cert)
    assert not CertSelector(serial=0xABCDEE).matches(cert)
    assert CertSelector(thumbprint=hashlib.sha1(der).digest()).matches(cert)
    assert CertSelector(thumbprint=hashlib.sha256(der).digest()).matches(cert)
    assert not CertSelector(thumbprint=hashlib.sha256(der + b"x").digest()).matches(cert)
