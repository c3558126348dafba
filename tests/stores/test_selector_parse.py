"""The selector parser against the Go helper's documented behaviour (reference-helper.md 1.8).

The valid and invalid fixtures are the ones of the Go helper's ``cmd/credentials_test.go``
and ``tst/selectors/*.json`` (recreated here as data), plus the edge cases the
reference spells out (RE2 whitespace, ``Key=`` look-ahead, JSON member case).
"""

from __future__ import annotations

import json

import pytest

from rasign.backends.store.selector import (
    ERR_DUPLICATE,
    ERR_INLINE,
    ERR_INVALID_KEY,
    ERR_JSON,
    ERR_READ_FILE,
    CertSelector,
    parse_inline,
    parse_selector,
    parse_serial,
    parse_thumbprint,
    serial_hex,
)
from rasign.errors import UsageError

SERIAL = "15D19632234BF759A32802C0DA88F9E8AFC8702D"

GO_VALID_INLINE = [
    (
        f"Key=x509Subject,Value=CN=Subject Key=x509Issuer,Value=CN=Issuer Key=x509Serial,Value={SERIAL}",
        CertSelector(subject="CN=Subject", issuer="CN=Issuer", serial=int(SERIAL, 16)),
    ),
    ("Key=x509Issuer,Value=CN=Issuer", CertSelector(issuer="CN=Issuer")),
    (
        "Key=x509Subject,Value=CN=CN With Spaces Key=x509Issuer,Value=CN=CN With Spaces,OU=OU With Spaces",
        CertSelector(subject="CN=CN With Spaces", issuer="CN=CN With Spaces,OU=OU With Spaces"),
    ),
    (
        "Key=x509Subject,Value=CN=CN With Spaces,O=O With Spaces Key=x509Issuer,Value=CN=Issuer",
        CertSelector(subject="CN=CN With Spaces,O=O With Spaces", issuer="CN=Issuer"),
    ),
    (
        " \n  Key=x509Subject,Value=CN=CN With Spaces,O=O With Spaces   \t   Key=x509Issuer,Value=CN=Issuer  \n",
        CertSelector(subject="CN=CN With Spaces,O=O With Spaces", issuer="CN=Issuer"),
    ),
    (
        " \n  Key=x509Subject,Value=CN=CN With Trailing Spaces  ,O=O With Spaces   \t   Key=x509Issuer,Value=CN=Issuer  \n",
        CertSelector(subject="CN=CN With Trailing Spaces  ,O=O With Spaces", issuer="CN=Issuer"),
    ),
]


@pytest.mark.parametrize(("text", "expected"), GO_VALID_INLINE)
def test_go_valid_inline_selectors(text: str, expected: CertSelector) -> None:
    assert parse_selector(text) == expected


GO_INVALID_INLINE = [
    ("laksdjadf", ERR_INLINE),
    ("Key=laksdjf,Valalsd", ERR_INLINE),
    ("Key=aljsdf,Value=aljsdfadsf", ERR_INVALID_KEY),
    (
        f"Key=x509Subject,Value=CN=Subject Key=x509Issuer,Value=CN=Issuer Key=x509Serial,Value={SERIAL} Key=x509Subject,Value=CN=Subject2",
        ERR_DUPLICATE.format("x509Subject"),
    ),
    ("asdf Key=x509Subject,Value=Test", ERR_INLINE),
    ("Key=x509Subject,Value=Test Key=x509Subject,Value=Test2", ERR_DUPLICATE.format("x509Subject")),
]


@pytest.mark.parametrize(("text", "message"), GO_INVALID_INLINE)
def test_go_invalid_inline_selectors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_selector(text)
    assert caught.value.message == message
    assert caught.value.exit_code == 2


def test_error_texts_are_the_go_helpers() -> None:
    assert ERR_READ_FILE == "unable to read cert selector file"
    assert ERR_JSON == "unable to parse JSON map entries"
    assert ERR_INLINE == "unable to parse cert selector string"
    assert ERR_INVALID_KEY == "cert selector contained invalid key"
    assert ERR_DUPLICATE.format("x509Issuer") == "duplicate x509Issuer keys can't be present in cert selector"


def test_no_separator_is_needed_before_the_next_key() -> None:
    # Go's pattern only looks ahead for "Key=", so pairs may be glued together.
    assert parse_inline("Key=x509Subject,Value=CN=aKey=x509Issuer,Value=CN=b") == [
        ("x509Subject", "CN=a"),
        ("x509Issuer", "CN=b"),
    ]


def test_value_is_the_shortest_text_up_to_the_next_key() -> None:
    assert parse_inline("Key=x509Subject,Value=CN=a,Value=b Key=x509Serial,Value=1") == [
        ("x509Subject", "CN=a,Value=b"),
        ("x509Serial", "1"),
    ]


def test_key_may_contain_commas_and_is_then_invalid() -> None:
    with pytest.raises(UsageError, match="invalid key"):
        parse_inline("Key=x509Subject,x,Value=CN=a")


def test_vertical_tab_is_not_whitespace_for_re2() -> None:
    # RE2's \s excludes \v: a leading vertical tab leaves text the loop cannot consume.
    with pytest.raises(UsageError) as caught:
        parse_inline("\vKey=x509Subject,Value=CN=a")
    assert caught.value.message == ERR_INLINE


def test_trailing_newline_is_trimmed_as_whitespace_but_inner_newline_stops_a_value() -> None:
    assert parse_inline("Key=x509Subject,Value=CN=a\n") == [("x509Subject", "CN=a")]
    with pytest.raises(UsageError):
        parse_inline("Key=x509Subject,Value=CN=a\nb")


def test_keys_are_case_sensitive() -> None:
    with pytest.raises(UsageError) as caught:
        parse_selector("Key=X509Subject,Value=CN=a")
    assert caught.value.message == ERR_INVALID_KEY


def test_empty_selector_matches_everything() -> None:
    assert parse_selector("").is_empty
    assert parse_selector(None).is_empty


# ----------------------------------------------------------------------------- JSON files


def write(tmp_path, text: str) -> str:
    path = tmp_path / "selector.json"
    path.write_text(text, encoding="utf-8")
    return f"file://{path}"


def test_go_valid_json_files(tmp_path) -> None:
    all_attributes = [
        {"Key": "x509Subject", "Value": "CN=Subject"},
        {"Key": "x509Issuer", "Value": "CN=Issuer"},
        {"Key": "x509Serial", "Value": SERIAL},
    ]
    assert parse_selector(write(tmp_path, json.dumps(all_attributes, indent=4))) == CertSelector(
        subject="CN=Subject", issuer="CN=Issuer", serial=int(SERIAL, 16)
    )
    some = [all_attributes[0], all_attributes[2]]
    assert parse_selector(write(tmp_path, json.dumps(some))) == CertSelector(
        subject="CN=Subject", serial=int(SERIAL, 16)
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("asldjf;laj;laweijncaljda\n", ERR_JSON),  # tst/selectors/invalid-selector.json
        ('{\n    "lajsdf": "lajsdlfjadf"\n}\n', ERR_JSON),  # invalid-selector-2.json
        ('{\n    "Key": "x509Serial", \n    "Value": "alskjdfa"\n}\n', ERR_JSON),  # invalid-selector-3.json
        (
            json.dumps(
                [
                    {"Key": "x509Subject", "Value": "CN=Subject"},
                    {"Key": "x509Issuer", "Value": "CN=Issuer"},
                    {"Key": "x509Serial", "Value": SERIAL},
                    {"Key": "x509Subject", "Value": "CN=Subject2"},
                ]
            ),
            ERR_DUPLICATE.format("x509Subject"),
        ),  # invalid-selector-4.json
        ('[{"Key": 1, "Value": "x"}]', ERR_JSON),
        ('["x509Subject"]', ERR_JSON),
        ('[{"Value": "CN=a"}]', ERR_INVALID_KEY),
        ('[{"Key": "x509Subject", "Value": "CN=a"}] trailing', ERR_JSON),
        ("\ufeff[]", ERR_JSON),
    ],
)
def test_go_invalid_json_files(tmp_path, content: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_selector(write(tmp_path, content))
    assert caught.value.message == message


def test_json_member_names_are_case_insensitive_and_extra_members_ignored(tmp_path) -> None:
    text = '[{"key": "x509Subject", "VALUE": "CN=a", "Comment": 5}, {"KEY": "x509Issuer", "vAlUe": "CN=b"}]'
    assert parse_selector(write(tmp_path, text)) == CertSelector(subject="CN=a", issuer="CN=b")


def test_json_null_and_empty_list_match_everything(tmp_path) -> None:
    assert parse_selector(write(tmp_path, "null")).is_empty
    assert parse_selector(write(tmp_path, "[]")).is_empty


def test_json_values_may_hold_what_the_inline_form_cannot(tmp_path) -> None:
    text = json.dumps([{"Key": "x509Subject", "Value": "CN=has Key= inside\\, and a comma"}])
    assert parse_selector(write(tmp_path, text)).subject == "CN=has Key= inside\\, and a comma"


def test_unreadable_selector_file(tmp_path) -> None:
    with pytest.raises(UsageError) as caught:
        parse_selector(f"file://{tmp_path}/missing.json")
    assert caught.value.message == ERR_READ_FILE
    assert "missing.json" in caught.value.one_line()


def test_relative_file_path_is_used_verbatim(tmp_path, monkeypatch) -> None:
    (tmp_path / "sel.json").write_text('[{"Key": "x509Subject", "Value": "CN=rel"}]')
    monkeypatch.chdir(tmp_path)
    assert parse_selector("file://sel.json").subject == "CN=rel"


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("15D19632234BF759A32802C0DA88F9E8AFC8702D", int(SERIAL, 16)),
        ("15d19632234bf759a32802c0da88f9e8afc8702d", int(SERIAL, 16)),
        ("00:15:D1:96:32", 0x15D19632),
        ("0015d19632", 0x15D19632),
        ("15 d1 96 32", 0x15D19632),
        ("0x1A", 0x1A),
        ("-1A", -0x1A),
        ("+1a", 0x1A),
    ],
)
def test_serial_forms(text: str, value: int) -> None:
    assert parse_serial(text) == value


@pytest.mark.parametrize("text", ["alskjdfa", "12G4", ":", "0x", "-"])
def test_bad_serial_is_refused_not_ignored(text: str) -> None:
    with pytest.raises(UsageError, match="invalid x509Serial"):
        parse_selector(f"Key=x509Serial,Value={text}")


def test_serial_hex_is_go_listing_form() -> None:
    assert serial_hex(0x0123456789ABCDEF0123) == "123456789ABCDEF0123"
    assert serial_hex(-255) == "-FF"


def test_thumbprint_forms() -> None:
    sha1 = "dc5591c12b8a654d5c83611ee969679b04b7d02f"
    assert parse_thumbprint(sha1) == bytes.fromhex(sha1)
    assert parse_thumbprint(":".join(sha1[i : i + 2] for i in range(0, 40, 2)).upper()) == bytes.fromhex(sha1)
    assert len(parse_thumbprint("ab" * 32)) == 32
    for bad in ("ab" * 19, "zz" * 20, "ab" * 21):
        with pytest.raises(UsageError, match="invalid x509Thumbprint"):
            parse_thumbprint(bad)


def test_new_keys_parse_inline() -> None:
    selector = parse_selector(f"Key=x509Thumbprint,Value={'ab' * 20} Key=x509SubjectContains,Value=web")
    assert selector == CertSelector(thumbprint=bytes.fromhex("ab" * 20), subject_contains="web")


def test_to_text_round_trips() -> None:
    selector = CertSelector(
        subject="CN=a\\, b,O=x", issuer="CN=i", serial=0xABC, thumbprint=b"\x01" * 32, subject_contains="a"
    )
    assert parse_selector(selector.to_text()) == selector
