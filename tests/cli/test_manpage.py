"""docs/man/rasign.1 is generated from the parser, complete, and current."""

from __future__ import annotations

import argparse
import shutil
import subprocess

import pytest

from rasign.cli.main import build_parser
from rasign.cli.manpage import main as manpage_main
from rasign.cli.manpage import render
from tests.conftest import REPO

COMMITTED = REPO / "docs" / "man" / "rasign.1"
REGENERATE = "regenerate it: .venv/bin/python -m rasign.cli.manpage -o docs/man/rasign.1"


@pytest.fixture(scope="module")
def page() -> str:
    return render("rasign")


def test_committed_page_is_current(page):
    assert COMMITTED.read_text(encoding="utf-8") == page, REGENERATE


def test_every_flag_of_every_command_is_on_the_page(page):
    root = build_parser()
    subparsers = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in subparsers.choices.items():
        start = page.index(f'.SS "rasign {name.replace("-", chr(92) + "-")}"')
        end = page.find(".SS ", start + 4)
        section = page[start : end if end != -1 else len(page)]
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:
                continue
            for option in action.option_strings:
                assert f"\\fB{option.replace('-', chr(92) + '-')}\\fR" in section, (name, option)


def test_page_renders_without_warnings(tmp_path):
    if shutil.which("groff") is None and shutil.which("man") is None:
        pytest.skip("neither man nor groff installed")
    if shutil.which("man"):
        command = ["man", "--warnings", "-l", str(COMMITTED)]
    else:
        command = ["groff", "-man", "-ww", "-Tutf8", str(COMMITTED)]
    env = {"MANWIDTH": "100", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    text = " ".join(done.stdout.split())
    assert "rasign credential-process" in text and "--use-latest-expiring-certificate" in text


def test_page_does_not_depend_on_the_environment(monkeypatch, page):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "9")
    monkeypatch.setenv("RASIGN_NO_PROMPT", "1")
    assert render("rasign") == page


def test_module_writes_the_file(tmp_path, page):
    target = tmp_path / "rasign.1"
    assert manpage_main(["-o", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == page
