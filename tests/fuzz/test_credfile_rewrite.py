"""Property tests: the credentials-file rewriter against botocore's own loader.

Hypothesis builds credentials files from the pieces that made rasign and botocore disagree
(issue 9): headers with spaces, trailing text or indentation, continuation lines, comments,
``key: value`` lines, mixed ``\\n``/``\\r\\n``/lone ``\\r`` endings, Unicode separators that
``str.splitlines`` splits at and a text-mode file does not, duplicates, stray lines. For
each file:

* the model (:mod:`rasign.ini`) accepts exactly the files botocore reads, with the same
  sections and values;
* after :func:`rasign.credfile.rewrite`, botocore sees the new credentials in the profile,
  every other profile and every other key unchanged;
* rewriting again changes nothing, and every byte outside the profile is unchanged.

Bounded for the suite (200 examples per property); set RASIGN_FUZZ_EXAMPLES for a longer run.
"""

from __future__ import annotations

import os

import pytest
from botocore.configloader import raw_config_parse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rasign.credfile import rewrite
from rasign.errors import StoreError
from rasign.ini import parse

_WANTED = os.environ.get("RASIGN_FUZZ_EXAMPLES", "")
EXAMPLES = int(_WANTED) if _WANTED.isdigit() else 200
# The suite run is deterministic (same examples every time); a longer run explores anew.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not _WANTED.isdigit(),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NEW = {
    "aws_access_key_id": "ASIANEWKEY",
    "aws_secret_access_key": "new/secret+key",
    "aws_session_token": "new-token==",
    "x_security_token_expires": "2026-12-01T12:00:00Z",
}
MANAGED = set(NEW)
TARGETS = ["dev", "default", "prod", "prød", "profile dev", "a.b-c_d"]

names = st.sampled_from(TARGETS + ["dev ", " dev", "default ", "other", "DEFAULT", "x]y", "é"])
separators = st.sampled_from(["\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x85", "\xa0", "\t"])
words = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
values = st.one_of(words, st.builds(lambda a, s, b: a + s + b, words, separators, words))
keys = st.sampled_from(sorted(MANAGED) + ["AWS_Access_Key_Id", "region", "output", "x", "s3", "Region"])
indents = st.sampled_from(["", "", "", " ", "  ", "\t", "\xa0"])


@st.composite
def header(draw) -> str:
    name = draw(names)
    form = draw(st.sampled_from(["[{}]", "[{}]", "{i}[{}]", "[{}] trailing words", "[{}] ; note", "[{}]]"]))
    return form.format(name, i=draw(indents))


@st.composite
def option(draw) -> str:
    delimiter = draw(st.sampled_from([" = ", "=", ": ", " :", " = "]))
    return draw(indents) + draw(keys) + delimiter + draw(values)


def continuation(draw_value: str) -> str:
    return "    " + draw_value


line = st.one_of(
    header(),
    option(),
    option(),
    option(),
    values.map(continuation),
    st.sampled_from(["", "   ", "# comment", "; comment", "  # indented comment", "\t"]),
    st.just("junk line without delimiter"),
    words,
)
endings = st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"])


@st.composite
def chaotic_file(draw) -> list[str]:
    """Any mix of lines: mostly files botocore refuses (duplicates, stray text)."""
    return [draw(header())] + draw(st.lists(line, max_size=14))


@st.composite
def plausible_file(draw) -> list[str]:
    """Distinct sections with distinct keys: files botocore reads, with every odd detail."""
    parts: list[str] = []
    for name in draw(st.lists(names.filter(lambda n: n != "DEFAULT"), min_size=1, max_size=4, unique=True)):
        form = draw(st.sampled_from(["[{}]", "[{}]", "{i}[{}]", "[{}] trailing words", "[{}] ; note"]))
        parts.append(form.format(name, i=draw(indents)))
        used: set[str] = set()
        for _ in range(draw(st.integers(0, 5))):
            key = draw(keys)
            if key.lower() in used:
                continue
            used.add(key.lower())
            parts.append(
                draw(indents.filter(lambda i: i == "")) + key + draw(st.sampled_from([" = ", "=", ": "])) + draw(values)
            )
            if draw(st.integers(0, 4)) == 0:
                parts.append(continuation(draw(values)) or "    x")
            parts.extend(draw(st.lists(st.sampled_from(["", "# c", "; c", "  "]), max_size=2)))
    return parts


@st.composite
def credentials_file(draw) -> str:
    parts = draw(st.one_of(plausible_file(), chaotic_file()))
    text = "".join(part + draw(endings) for part in parts)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no final newline
    if draw(st.integers(0, 9)) == 0:
        text = draw(words) + "\n" + text  # text before the first header
    return text


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("credfile-fuzz") / "credentials"


def botocore_view(scratch, text: str) -> dict | None:
    scratch.write_bytes(text.encode("utf-8"))
    try:
        return raw_config_parse(str(scratch))
    except Exception:  # botocore's ConfigParseError (configparser errors, ValueError of nested values)
        return None


@FUZZ
@given(text=credentials_file())
def test_model_accepts_exactly_what_botocore_reads(scratch, text):
    view = botocore_view(scratch, text)
    document = parse(text)
    assert (view is not None) == (not document.problems), (document.problems, view)
    if view is not None:
        assert {section.name for section in document.sections} == set(view)
        if not any(line.kind == "header" and line.section is None for line in document.lines):  # no [DEFAULT]
            for section in document.sections:
                values = document.values(section.name) or {}
                assert {key: _nested(value) for key, value in values.items()} == view[section.name]


@FUZZ
@given(text=credentials_file(), profile=st.sampled_from(TARGETS))
def test_rewrite_gives_botocore_the_new_credentials_and_nothing_else(scratch, text, profile):
    before = botocore_view(scratch, text)
    try:
        out = rewrite(text, profile, NEW)
    except StoreError:
        # Refused: only files botocore cannot read either (the model's line number is in the message).
        assert before is None
        return
    after = botocore_view(scratch, out)
    assert after is not None, "rasign reported success for a file botocore cannot read"
    for key, value in NEW.items():
        assert after[profile][key] == value
    if before is not None:
        assert set(after) == set(before) | {profile}
        for name, section in before.items():
            expected = dict(section)
            if name == profile:
                expected = {k: v for k, v in section.items() if k not in MANAGED} | NEW
            assert after[name] == expected, name
    assert rewrite(out, profile, NEW) == out  # idempotent
    _assert_only_the_profile_changed(text, out, profile)


def _nested(value: str) -> str | dict[str, str]:
    """What botocore makes of a value that starts on the next line (``s3 =`` + indented pairs)."""
    if not value.startswith("\n"):
        return value
    pairs = (line.strip().split("=", 1) for line in value.splitlines() if line.strip())
    return {key.strip(): item.strip() for key, item in pairs}


def _assert_only_the_profile_changed(text: str, out: str, profile: str) -> None:
    document = parse(text)
    found = document.named(profile)
    if not found:
        # Appended: the original is kept whole (plus at most the final line ending it lacked).
        assert out.startswith(text.rstrip("\r\n")) and out[: len(text)].rstrip("\r\n") == text.rstrip("\r\n")
        return
    section = found[0]
    head = "".join(line.text for line in document.lines[: section.header])
    header_body = document.lines[section.header].body
    tail = "".join(line.text for line in document.lines[section.end :])
    assert out.startswith(head + header_body)
    assert out.endswith(tail)
