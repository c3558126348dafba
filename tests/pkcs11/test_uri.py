"""RFC 7512 parsing and formatting (pure: no token needed)."""

from __future__ import annotations

import pytest

from rasign.backends.pkcs11.uri import PATH_ATTRIBUTES, QUERY_ATTRIBUTES, parse
from rasign.errors import UsageError

FULL = (
    "pkcs11:token=My%20Token;manufacturer=ACME;serial=0042;model=M%3B1;"
    "library-manufacturer=OpenSC%20Project;library-description=OpenSC%20smartcard%20framework;"
    "library-version=0.23;slot-id=3;slot-description=Reader%200;slot-manufacturer=Gemalto;"
    "object=My%20Key;id=%01%02%FF;type=private"
    "?pin-value=12%2634&module-name=opensc-pkcs11&module-path=/usr/lib/opensc-pkcs11.so"
)


def test_every_standard_attribute_is_parsed_and_decoded():
    uri = parse(FULL)
    assert set(uri.path) == set(PATH_ATTRIBUTES)
    assert uri.token == "My Token"
    assert uri.text("model") == "M;1"  # ';' inside a value must be percent-encoded
    assert uri.text("library-description") == "OpenSC smartcard framework"
    assert uri.library_version == (0, 23)
    assert uri.slot_id == 3
    assert uri.object == "My Key"
    assert uri.id == b"\x01\x02\xff"
    assert uri.type == "private"
    assert uri.pin_value == "12&34"
    assert uri.module_name == "opensc-pkcs11"
    assert uri.module_path == "/usr/lib/opensc-pkcs11.so"


def test_pin_source_and_library_version_without_minor():
    uri = parse("pkcs11:library-version=7?pin-source=file:/run/pin")
    assert uri.library_version == (7, 0)
    assert uri.pin_source == "file:/run/pin"
    assert set(QUERY_ATTRIBUTES) >= set(uri.query)


def test_round_trip_and_pin_hidden_by_default():
    uri = parse(FULL)
    text = uri.format()
    assert "pin-value" not in text and "12" not in text.split("?")[1]
    again = parse(uri.format(include_pin=True))
    assert again == uri
    assert "id=%01%02%FF" in text  # ids are written byte by byte, upper-case hex
    assert "pin" not in repr(uri.without_secrets()) and "12%2634" not in repr(uri)


def test_plus_stays_plus_and_reserved_characters_survive():
    uri = parse("pkcs11:object=a+b:c@d(e)*&f")
    assert uri.object == "a+b:c@d(e)*&f"
    assert parse(uri.format()).object == uri.object


def test_empty_uri_and_trailing_separators_are_legal():
    assert parse("pkcs11:").path == {}
    assert parse("pkcs11:token=a;").token == "a"
    assert parse("PKCS11:token=a").token == "a"


def test_vendor_attributes_are_accepted():
    uri = parse("pkcs11:token=a;x-vendor=1?x-q=2")
    assert uri.vendor == {"x-vendor": b"1", "x-q": b"2"}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("file.pem", "must start with 'pkcs11:'"),
        ("pkcs11:token=a;token=b", "duplicate path attribute token"),
        ("pkcs11:?pin-value=1&pin-value=2", "duplicate query attribute pin-value"),
        ("pkcs11:token", "malformed path attribute"),
        ("pkcs11:=x", "malformed path attribute"),
        ("pkcs11:object=%4", "bad percent-encoding"),
        ("pkcs11:object=%zz", "bad percent-encoding"),
        ("pkcs11:slot-id=0x1", "slot-id must be a decimal number"),
        ("pkcs11:library-version=1.2.3", "library-version must be M or M.N"),
        ("pkcs11:type=key", "type must be one of"),
        ("pkcs11:?pin-value=1&pin-source=file:/p", "cannot both be given"),
        ("pkcs11:?module-path=lib/x.so", "module-path must be an absolute path"),
        ("pkcs11:label=x", "unknown attribute 'label'"),
        ("pkcs11:token=a;pin-value=1234", "pin-value is a query attribute"),
        ("pkcs11:?token=a", "token is a path attribute"),
        ("pkcs11:object=%FF", "not valid UTF-8"),
    ],
)
def test_malformed_uris_give_one_clear_usage_error(text, needle):
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert needle in caught.value.one_line()


def test_errors_never_show_the_pin():
    with pytest.raises(UsageError) as caught:
        parse("pkcs11:token=a;pin-value=s3cret")
    assert "s3cret" not in caught.value.one_line()
    with pytest.raises(UsageError) as caught:
        parse("pkcs11:label=x?pin-value=s3cret")
    assert "s3cret" not in caught.value.one_line()


def test_unknown_attribute_hint_suggests_the_right_name():
    with pytest.raises(UsageError) as caught:
        parse("pkcs11:label=x")
    assert "object=" in caught.value.one_line()


def test_with_path_narrows_and_removes():
    uri = parse("pkcs11:token=a;type=cert").with_path(id=b"\x05", object="k", type=None)
    assert uri.format() == "pkcs11:token=a;object=k;id=%05"
