"""Fuzz the parsers that read untrusted input: DER, TSS2 key files, PKCS#11 URIs, selectors.

The property is the same everywhere: any input either parses or raises the project's own
error (a one-line :class:`RasignError`, or :class:`DerError` inside the DER reader) — never
an IndexError, TypeError, RecursionError or anything else that would surface as an
internal error. Valid inputs round-trip.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from rasign import der
from rasign.backends.pkcs11 import uri as p11uri
from rasign.backends.store import selector
from rasign.backends.tpm import keyfile
from rasign.errors import RasignError
from tests.fuzz.budget import examples

# --------------------------------------------------------------------------------------
# DER
# --------------------------------------------------------------------------------------


@examples(400)
@given(st.binary(max_size=300))
def test_der_reader_raises_only_der_errors(data):
    try:
        items = der.read_all(data)
    except der.DerError:
        return
    for item in items:
        if item.tag & 0x20:  # constructed: its children must read or fail cleanly too
            try:
                item.children()
            except der.DerError:
                pass


@examples(200)
@given(st.sampled_from([0x02, 0x04, 0x06, 0x0C, 0x30, 0x31, 0xA0, 0xA3]), st.binary(max_size=70000))
def test_der_encode_then_read_round_trips(tag, content):
    item = der.read_single(der.encode(tag, content))
    assert (item.tag, item.content) == (tag, content)


def _length_bytes(draw_length: int) -> bytes:
    if draw_length < 0x80:
        return bytes([draw_length])
    raw = draw_length.to_bytes((draw_length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


@examples(200)
@given(st.integers(0, 2**40), st.binary(max_size=20))
def test_der_lengths_beyond_the_data_are_refused(length, tail):
    data = b"\x04" + _length_bytes(length) + tail
    try:
        item = der.read_single(data)
    except der.DerError:
        return
    assert len(item.content) == length == len(tail)


# --------------------------------------------------------------------------------------
# TSS2 PRIVATE KEY files
# --------------------------------------------------------------------------------------


def _tpm2b(body: bytes) -> bytes:
    return len(body).to_bytes(2, "big") + body


_policies = st.lists(st.builds(keyfile.PolicyCommand, st.integers(0, 2**32 - 1), st.binary(max_size=40)), max_size=3)
_key_files = st.builds(
    keyfile.TpmKeyFile,
    parent=st.sampled_from([0x40000001, 0x40000007, 0x4000000B, 0x81000001, 0x81FFFFFF]),
    public=st.binary(max_size=80).map(_tpm2b),
    private=st.binary(max_size=80).map(_tpm2b),
    empty_auth=st.booleans(),
    policy=_policies,
    description=st.none() | st.text(max_size=30),
    rsa_parent=st.booleans(),
)


@examples(200)
@given(_key_files)
def test_tss2_valid_files_round_trip(key):
    for blob in (key.to_der(), key.to_pem()):
        parsed = keyfile.parse_key_bytes(blob)
        assert (parsed.parent, parsed.public, parsed.private, parsed.empty_auth) == (
            key.parent,
            key.public,
            key.private,
            key.empty_auth,
        )
        assert parsed.policy == key.policy
        assert parsed.description == key.description


@examples(500)
@given(_key_files, st.data())
def test_tss2_mutated_files_fail_cleanly(key, data):
    blob = bytearray(key.to_der())
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if not blob:
            break
        at = data.draw(st.integers(0, len(blob) - 1))
        if action == "flip":
            blob[at] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del blob[at:]
        else:
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    try:
        keyfile.parse_key_bytes(bytes(blob))
    except RasignError:
        pass


@examples(200)
@given(st.binary(max_size=200))
def test_tss2_random_bytes_and_pem_fail_cleanly(data):
    for blob in (data, b"-----BEGIN TSS2 PRIVATE KEY-----\n" + data + b"\n-----END TSS2 PRIVATE KEY-----\n"):
        try:
            keyfile.parse_key_bytes(blob)
        except RasignError:
            pass


# --------------------------------------------------------------------------------------
# PKCS#11 URIs
# --------------------------------------------------------------------------------------

_uri_alphabet = st.sampled_from(
    list("pkcs11:;?&=%/xX-_.~0123456789abcdefABCDEF tokenobjidslot") + ["\x00", "é", "\n", "%zz", "%4"]
)


@examples(600)
@given(st.lists(_uri_alphabet, max_size=60).map("".join))
def test_uri_parser_raises_only_usage_errors(tail):
    for text in ("pkcs11:" + tail, tail):
        try:
            parsed = p11uri.parse(text)
        except RasignError:
            continue
        # whatever parsed formats to a URI that parses to the same thing
        again = p11uri.parse(parsed.format(include_pin=True))
        assert again.format(include_pin=True) == parsed.format(include_pin=True)


_text_values = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
_path_values = st.fixed_dictionaries(
    {},
    optional={
        "token": _text_values,
        "object": _text_values,
        "manufacturer": _text_values,
        "serial": _text_values,
        "id": st.binary(min_size=1, max_size=8),
        "type": st.sampled_from(p11uri.OBJECT_TYPES),
        "slot-id": st.integers(0, 2**32).map(str),
    },
)


@examples(300)
@given(_path_values, st.none() | st.text(min_size=1, max_size=10))
def test_uri_built_from_attributes_round_trips(values, pin):
    parts = []
    for name, value in values.items():
        raw = value if isinstance(value, bytes) else value.encode()
        parts.append(name + "=" + "".join(f"%{b:02x}" for b in raw))
    text = "pkcs11:" + ";".join(parts)
    if pin is not None:
        text += "?pin-value=" + "".join(f"%{b:02x}" for b in pin.encode())
    parsed = p11uri.parse(text)
    assert p11uri.parse(parsed.format(include_pin=True)) == parsed
    if pin is not None:
        assert parsed.pin_value == pin
        assert pin.encode() not in parsed.format().encode() or pin in parsed.format().replace("pin-value", "")


# --------------------------------------------------------------------------------------
# Certificate selectors, inline and JSON
# --------------------------------------------------------------------------------------

_selector_alphabet = st.sampled_from(
    [
        "Key=",
        "Value=",
        ",",
        " ",
        "x509Subject",
        "x509Issuer",
        "x509Serial",
        "x509Thumbprint",
        "CN=a",
        "=",
        "\\",
        "0a",
        "ff",
        "\x00",
        "é",
        "\n",
    ]
)


@examples(600)
@given(st.lists(_selector_alphabet, max_size=24).map("".join))
def test_inline_selector_raises_only_usage_errors(text):
    try:
        parsed = selector.parse_selector(text)
    except RasignError:
        return
    assert isinstance(parsed, selector.CertSelector)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["Key", "Value", "key", "VALUE", "x"]), children, max_size=3)
    ),
    max_leaves=12,
)


@examples(600)
@given(_json_values)
def test_json_selector_raises_only_usage_errors(document):
    try:
        parsed = selector.parse_json(json.dumps(document))
    except RasignError:
        return
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in parsed)


def test_json_selector_nested_arrays_are_a_clean_error():
    for text in ('[[["Key", "x509Subject"]]]', "[[1, 2]]", '[["Key"]]', "[" * 50000 + "]" * 50000):
        try:
            selector.parse_json(text)
        except RasignError as err:
            assert "unable to parse JSON map entries" in str(err)
        else:  # pragma: no cover - the assertion below names the input
            raise AssertionError(f"{text[:20]!r} parsed")


def test_selector_file_that_is_a_fifo_or_directory_is_a_clean_error(tmp_path):
    import os

    fifo = tmp_path / "sel.fifo"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path):
        try:
            selector.parse_selector(f"file://{path}")
        except RasignError as err:
            assert "not a regular file" in err.one_line()
        else:  # pragma: no cover
            raise AssertionError(f"{path} was read")


@examples(300)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "x509Subject": st.just("CN=leaf,O=Example"),
            "x509Issuer": st.just("CN=root"),
            "x509Serial": st.integers(1, 2**64).map(lambda n: format(n, "X")),
        },
    )
)
def test_selectors_render_and_parse_back(fields):
    pairs = [{"Key": key, "Value": value} for key, value in fields.items()]
    from_json = selector.selector_from_pairs(selector.parse_json(json.dumps(pairs)))
    if not from_json.is_empty:
        assert selector.parse_selector(from_json.to_text()) == from_json
