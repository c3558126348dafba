"""mkdocs hook: one page per ``rasign`` command, generated from the argparse parser at build time.

It also writes the stylesheet of the Pygments-highlighted code blocks, and renders the
Sphinx roles of rasign's docstrings (``:class:`X` ``) as plain code names in the API
reference.

The pages cannot disagree with the flags because they are the flags: every option,
metavar, default and help string comes from the same parser the CLI runs. The hook also
fills the "Commands" entry of the nav, so a new command appears without editing mkdocs.yml.

Only :func:`_root_parser` knows how rasign builds its parser; when the CLI's builder
changes, that one function changes.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
NAV_TITLE = "Commands"
PAGE_DIR = "commands"
_SPHINX_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):<code>(~?)([\w.]+)</code>")


def _root_parser(command: str | None) -> argparse.ArgumentParser:
    """``rasign``'s root parser with ``command``'s flags configured: the one adapter to rasign.cli."""
    from rasign.cli.main import build_parser

    return build_parser(command)


def _subparsers(root: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(action for action in root._actions if isinstance(action, argparse._SubParsersAction))


def _command_parser(name: str) -> argparse.ArgumentParser:
    """The fully configured sub-parser of ``rasign NAME``."""
    return _subparsers(_root_parser(name)).choices[name]


def commands() -> dict[str, str]:
    """Command name -> one-line summary, in the CLI's order, as ``rasign --help`` lists them."""
    return {choice.dest: choice.help or "" for choice in _subparsers(_root_parser(None))._choices_actions}


def _cell(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def _default(action: argparse.Action) -> str:
    value = action.default
    if value in (None, False, [], argparse.SUPPRESS) or isinstance(action, argparse._HelpAction):
        return ""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return ""
    return f"`{value}`"


def _flags(action: argparse.Action) -> str:
    names = action.option_strings or [action.metavar or action.dest]
    metavar = ""
    if action.nargs != 0:
        if action.choices:
            metavar = "{" + ",".join(str(choice) for choice in action.choices) + "}"
        elif action.option_strings:
            metavar = action.metavar or action.dest.upper()
    return ", ".join(f"`{name}{' ' + metavar if metavar else ''}`" for name in names)  # pipes in code spans are safe


def command_page(name: str, summary: str) -> str:
    """Markdown for ``rasign NAME``: summary, usage, then one table per option group."""
    parser = _command_parser(name)
    formatter = parser._get_formatter()
    lines = [f"# `rasign {name}`", "", _cell(parser.description or summary), ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help is not argparse.SUPPRESS]
        if not actions:
            continue
        title = group.title or "options"
        lines += [f"## {title[0].upper()}{title[1:]}", ""]
        if group.description:
            lines += [_cell(group.description), ""]
        lines += ["| option | meaning | default |", "| --- | --- | --- |"]
        for action in actions:
            required = " **(required)**" if action.required else ""
            help_text = formatter._expand_help(action) if action.help else ""
            lines.append(f"| {_flags(action)} | {_cell(help_text)}{required} | {_default(action)} |")
        lines.append("")
    lines += [
        "Exit codes: 0 on success, otherwise the code of the error class ([error catalogue](../errors.md)).",
        "",
    ]
    return "\n".join(lines)


def index_page() -> str:
    lines = [
        "# Commands",
        "",
        "Every page here is generated from the parser `rasign` itself runs, so it lists exactly the",
        "flags the installed version accepts. The same commands answer under the name",
        "`aws_signing_helper`.",
        "",
        "| command | what it does |",
        "| --- | --- |",
    ]
    lines += [f"| [`{name}`]({name}.md) | {_cell(summary)} |" for name, summary in commands().items()]
    return "\n".join(lines) + "\n"


def pages() -> dict[str, str]:
    """Docs-relative path -> Markdown of every generated page."""
    generated = {f"{PAGE_DIR}/index.md": index_page()}
    for name, summary in commands().items():
        generated[f"{PAGE_DIR}/{name}.md"] = command_page(name, summary)
    return generated


# -- mkdocs events ---------------------------------------------------------------------


def on_config(config: Any) -> Any:
    """Import rasign from this checkout and put the generated pages under "Commands" in the nav."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    entries = [{"Overview": f"{PAGE_DIR}/index.md"}] + [{name: f"{PAGE_DIR}/{name}.md"} for name in commands()]
    for index, item in enumerate(config["nav"] or []):
        if isinstance(item, dict) and NAV_TITLE in item:
            config["nav"][index] = {NAV_TITLE: entries}
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the generated command pages to the site."""
    from mkdocs.structure.files import File

    for path, content in pages().items():
        files.append(File.generated(config, path, content=content))
    files.append(File.generated(config, "css/pygments.css", content=_pygments_css()))
    return files


def _pygments_css() -> str:
    """Colours for the code blocks Pygments highlighted (pymdownx.highlight's ``highlight`` class)."""
    from pygments.formatters import HtmlFormatter

    rules: str = HtmlFormatter(style="default").get_style_defs(".highlight")
    return rules + "\n.highlight .filename { font-weight: bold; }\n"


def on_page_content(html_text: str, **_: Any) -> str:
    """Show the docstrings' Sphinx roles (``:class:`~a.B` ``) as the code names they stand for."""
    return _SPHINX_ROLE.sub(lambda m: f"<code>{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}</code>", html_text)
