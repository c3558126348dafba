"""The documentation site builds with ``mkdocs build --strict`` and covers what it must.

Strict mode makes every broken link, missing anchor and unparsable docstring a failure.
The other tests pin what the build cannot see: a page per command listing every flag the
parser has, an error-catalogue entry per error class with the right exit code, and every
page in the nav.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import REPO

DOCS = REPO / "docs"


def _require_mkdocs() -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings_handlers") is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs / mkdocstrings[python] are not installed (pip install -e '.[docs]')")
        pytest.skip("mkdocs / mkdocstrings[python] are not installed (pip install -e '.[docs]')")


def _hook():
    spec = importlib.util.spec_from_file_location("rasign_docs_cli_pages", DOCS / "hooks" / "cli_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _require_mkdocs()
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPO / "mkdocs.yml"),
            "--site-dir",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "WARNING" not in build.stderr, build.stderr
    return out


def test_every_command_has_a_page_and_the_api_is_documented(site):
    from rasign.cli.main import COMMANDS
    from rasign.errors import EXIT_CODES

    for name in COMMANDS:
        page = site / "commands" / name / "index.html"
        assert page.is_file(), f"no page for rasign {name}"
        assert f"rasign {name}" in page.read_text()
    api = (site / "api" / "index.html").read_text()
    for anchor in (
        "rasign.api.session",
        "rasign.signer.Signer",
        "rasign.registry.ENTRY_POINT_GROUP",
        "rasign.emulator.server.Emulator",
        *(f"rasign.errors.{name}" for name in EXIT_CODES),
    ):
        assert f'id="{anchor}"' in api, f"{anchor} missing from the API reference"
    backends = (site / "backends" / "index.html").read_text()
    assert 'class="filename">pemdir-backend/pemdir_backend.py<' in backends, "title= fences must render as code"
    assert (site / "css" / "pygments.css").is_file()
    for guide in (
        "backends",
        "emulator",
        "errors",
        "troubleshooting",
        "delivery",
        "pkcs11",
        "tpm",
        "stores",
        "compatibility",
        "exit-codes",
    ):
        assert (site / guide / "index.html").is_file(), guide


def test_command_pages_list_every_flag_of_the_parser():
    hook = _hook()
    pages = hook.pages()
    for name in hook.commands():
        page = pages[f"{hook.PAGE_DIR}/{name}.md"]
        parser = hook._command_parser(name)
        for action in parser._actions:
            if action.help == "==SUPPRESS==":
                continue
            for flag in action.option_strings:
                assert f"`{flag}" in page, f"rasign {name}: {flag} missing from its generated page"
    assert "**(required)**" not in pages[f"{hook.PAGE_DIR}/version.md"]


def _catalogue() -> dict[str, int]:
    text = (DOCS / "errors.md").read_text()
    return {name: int(code) for name, code in re.findall(r"^## `(\w+)` — exit (\d+)$", text, re.MULTILINE)}


def test_error_catalogue_has_every_error_class_with_its_code():
    import rasign.errors as errors

    classes = {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.RasignError) and cls.__module__ == errors.__name__
    }
    catalogue = _catalogue()
    missing = sorted(set(classes) - set(catalogue))
    assert not missing, f"docs/errors.md has no section for {missing}"
    assert not sorted(set(catalogue) - set(classes)), "docs/errors.md documents classes that do not exist"
    for name, cls in classes.items():
        assert catalogue[name] == cls.exit_code, f"{name}: docs say exit {catalogue[name]}, code says {cls.exit_code}"
        assert errors.EXIT_CODES.get(name) == cls.exit_code, f"{name} missing from rasign.errors.EXIT_CODES"


def test_every_page_is_in_the_nav():
    import yaml

    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)  # noqa: S506 - plain strings

    def leaves(node) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [leaf for value in node.values() for leaf in leaves(value)]
        return [leaf for item in node for leaf in leaves(item)]

    in_nav = set(leaves(config["nav"]))
    pages = {
        str(path.relative_to(DOCS))
        for path in DOCS.rglob("*.md")
        if path.relative_to(DOCS).parts[0] not in ("hooks", "man")
    }
    assert not sorted(pages - in_nav), f"pages missing from the nav in mkdocs.yml: {sorted(pages - in_nav)}"


def test_sphinx_roles_in_docstrings_render_as_code_names():
    hook = _hook()
    html = "the :class:<code>~rasign.errors.RasignError</code> and :meth:<code>Signer.sign</code>"
    rendered = hook.on_page_content(html)
    assert rendered == "the <code>RasignError</code> and <code>Signer.sign</code>"


def test_no_sphinx_role_survives_in_the_api_reference(site):
    assert not re.search(r":(class|meth|func|attr|mod|exc):<code>", (site / "api" / "index.html").read_text())


def test_emulator_guide_mentions_every_emulator_option():
    hook = _hook()
    guide = (DOCS / "emulator.md").read_text()
    flags = [
        flag
        for action in hook._command_parser("emulator")._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    ]
    missing = [flag for flag in flags if f"`{flag}" not in guide]
    assert not missing, f"docs/emulator.md does not explain {missing}"


def test_no_fence_is_left_unrendered(site):
    broken = [str(page.relative_to(site)) for page in site.rglob("*.html") if "<p>```" in page.read_text()]
    assert not broken, f"a fenced block rendered as text (bad info string?) in {broken}"
