"""The credentials-file rewriter sees sections exactly as botocore's own loader does.

Each case is a file that rasign and botocore used to read differently (issue 9); the check
is always botocore's ``raw_config_parse`` on the file written to disk.
"""

from __future__ import annotations

import pytest
from botocore.configloader import raw_config_parse
from botocore.exceptions import ConfigParseError

from rasign.credfile import check_profile_name, rewrite
from rasign.errors import StoreError
from rasign.ini import parse, split_lines

NEW = {"aws_access_key_id": "AKIDNEW", "aws_secret_access_key": "SECRETNEW", "aws_session_token": "TOKENNEW"}


def botocore_view(tmp_path, text: str) -> dict:
    path = tmp_path / "credentials"
    path.write_bytes(text.encode("utf-8"))
    return raw_config_parse(str(path))


def rewritten(tmp_path, text: str, profile: str) -> tuple[str, dict]:
    out = rewrite(text, profile, NEW)
    view = botocore_view(tmp_path, out)
    for key, value in NEW.items():
        assert view[profile][key] == value
    assert rewrite(out, profile, NEW) == out  # idempotent
    return out, view


@pytest.mark.parametrize("name", ["dev ", " dev", "DEFAULT", "a]b", "a[b", "x\u2028y", "tab\t", ""])
def test_names_botocore_would_read_differently_are_refused(name):
    assert check_profile_name(name)
    with pytest.raises(StoreError):
        rewrite("", name, NEW)


def test_update_cli_refuses_a_profile_with_a_trailing_space(tmp_path):
    from tests.conftest import run_rasign

    path = tmp_path / "credentials"
    result = run_rasign(
        "update",
        "--once",
        "--profile",
        "dev ",
        "--credentials-file",
        str(path),
        "--certificate",
        str(tmp_path / "c.pem"),
        "--private-key",
        str(tmp_path / "k.pem"),
        "--trust-anchor-arn",
        "arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/x",
        "--profile-arn",
        "arn:aws:rolesanywhere:us-east-1:123456789012:profile/x",
        "--role-arn",
        "arn:aws:iam::123456789012:role/x",
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "white space" in result.stderr and "Traceback" not in result.stderr
    assert not path.exists()


def test_header_with_a_space_inside_the_brackets_is_another_section(tmp_path):
    text = "[default ]\naws_access_key_id = spaced\n"
    out, view = rewritten(tmp_path, text, "default")
    assert view["default "]["aws_access_key_id"] == "spaced"
    assert out.startswith(text)


def test_text_after_a_header_still_names_the_section(tmp_path):
    text = "[dev] managed by hand\naws_access_key_id = old\n[other]\nx = 1\n"
    out, view = rewritten(tmp_path, text, "dev")
    assert out.count("[dev]") == 1 and view["other"] == {"x": "1"}


def test_indented_header_after_a_header_is_a_header(tmp_path):
    text = "[dev]\n  [next]\nx = 1\n"
    out, view = rewritten(tmp_path, text, "dev")
    assert view["next"] == {"x": "1"}
    assert out.endswith("  [next]\nx = 1\n")


def test_indented_header_after_a_key_is_a_continuation(tmp_path):
    text = "[dev]\nnote = a\n  [not-a-section]\n"
    assert "not-a-section" not in botocore_view(tmp_path, text)
    out, view = rewritten(tmp_path, text, "not-a-section")
    assert view["dev"] == {"note": "a\n[not-a-section]"}
    assert out.startswith(text)


def test_continuation_lines_of_a_managed_key_are_dropped(tmp_path):
    text = "[dev]\naws_session_token = old\n  more-old\n\n  even-more\nregion = x\n"
    out, view = rewritten(tmp_path, text, "dev")
    assert "old" not in out and view["dev"]["region"] == "x"


def test_new_keys_keep_an_indented_next_header_a_header(tmp_path):
    text = "[dev]\n    region = x\n  [next]\ny = 2\n"
    out, view = rewritten(tmp_path, text, "dev")
    assert view["next"] == {"y": "2"} and view["dev"]["region"] == "x"


def test_lone_cr_line_endings(tmp_path):
    text = "[a]\rx = 1\r[dev]\raws_access_key_id = old\r"
    out, view = rewritten(tmp_path, text, "dev")
    assert "\n" not in out and view["a"] == {"x": "1"}


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x85"])
def test_unicode_line_separators_do_not_end_lines(tmp_path, separator):
    # str.splitlines() splits here; a file opened in text mode (botocore) does not.
    text = f"[a]\nx = 1{separator}[dev]\n"
    assert len(split_lines(text)) == 2
    out, view = rewritten(tmp_path, text, "dev")
    assert view["a"]["x"] == f"1{separator}[dev]"
    assert out.startswith(text) and out.count("[dev]") == 2


def test_duplicate_managed_key_in_the_profile_is_repaired(tmp_path):
    text = "[dev]\naws_session_token = a\nAWS_SESSION_TOKEN = b\n"
    with pytest.raises(ConfigParseError):
        botocore_view(tmp_path, text)
    out, _ = rewritten(tmp_path, text, "dev")
    assert out.lower().count("aws_session_token") == 1


@pytest.mark.parametrize(
    "text, line",
    [
        ("[a]\nx = 1\n[a]\n", 3),
        ("stray = 1\n[dev]\n", 1),
        ("[dev]\njust words\n", 2),
        ("[other]\nk = 1\nk = 2\n", 3),
        ("[other]\ns3 =\n  no equals sign\n", 2),
    ],
)
def test_files_botocore_refuses_are_refused_with_the_line(tmp_path, text, line):
    with pytest.raises(ConfigParseError):
        botocore_view(tmp_path, text)
    with pytest.raises(StoreError, match=f"line {line}:"):
        rewrite(text, "dev", NEW)


def test_default_section_is_not_a_profile_but_does_not_break_parsing(tmp_path):
    text = "[DEFAULT]\nregion = x\n[dev]\naws_access_key_id = old\n"
    out, view = rewritten(tmp_path, text, "dev")
    assert view["dev"]["region"] == "x" and "DEFAULT" not in view


def test_model_values_match_botocore(tmp_path):
    text = "[a]\nk = v\n  w\n\n# c\n  x\nother: 1 \n[b]\n"
    view = botocore_view(tmp_path, text)
    document = parse(text)
    assert document.values("a") == view["a"] and document.values("b") == view["b"] == {}


def test_config_file_sections_are_addressed_by_their_exact_header(tmp_path):
    from botocore.configloader import load_config

    from rasign.credfile import write_section

    path = tmp_path / "config"
    path.write_text("[default]\nregion = eu-west-1\n[profile dev]\noutput = json\n")
    write_section(
        str(path),
        "profile dev",
        {"credential_process": "rasign credential-process --x 'a b'"},
        what="config file",
        secret=False,
    )
    profiles = load_config(str(path))["profiles"]
    assert profiles["dev"] == {"output": "json", "credential_process": "rasign credential-process --x 'a b'"}
    assert profiles["default"] == {"region": "eu-west-1"}
