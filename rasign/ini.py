"""An INI model that sees a file exactly the way botocore (and so every AWS SDK for Python) does.

botocore reads ``~/.aws/credentials`` and ``~/.aws/config`` with
``configparser.RawConfigParser()`` in its default settings, on a file opened in text mode.
A writer that disagrees with that reader on any detail writes files that rasign thinks it
updated and the AWS CLI reads differently, or cannot read at all. The rules, all taken
from that reader:

* **Lines** end at ``\\r\\n``, ``\\r`` or ``\\n`` only (universal newlines). ``str.splitlines``
  also splits at ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028 and U+2029; the reader
  does not, so neither does this model.
* A line whose stripped text starts with ``#`` or ``;`` is a comment; there are no inline
  comments. Stripping is ``str.strip()`` (all Unicode white space).
* A **header** is a stripped line matching ``\\[(.+)\\]`` from its start: the name is *not*
  stripped (``[dev ]`` is section ``"dev "``), text after the last ``]`` is ignored
  (``[dev] x`` is section ``"dev"``) and indentation does not matter -- unless the line is
  a continuation.
* A non-blank line indented deeper than the line that started the current option is a
  **continuation** of that option's value, even if it looks like a header or a key. Blank
  lines and comments do not end a value.
* ``key = value`` / ``key: value`` split at the first ``=`` or ``:``; keys are compared
  lower-cased. A section or a key in the same section seen twice, a line outside any
  section, and a line that is none of the above make the reader refuse the whole file.
* ``[DEFAULT]`` is not a section: its keys are defaults merged into every section.

:func:`parse` builds the model (every line classified, problems listed as the reader would
raise them) and :func:`set_values` rewrites one section, addressed by its exact header
name (``"dev"`` in a credentials file, ``"profile dev"`` in a config file), leaving every
byte outside that section as it was.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from rasign.textsafe import clean

DEFAULT_SECTION = configparser.DEFAULTSECT
_SECTCRE = configparser.RawConfigParser.SECTCRE
_OPTCRE = configparser.RawConfigParser.OPTCRE
_NONSPACE = re.compile(r"\S")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
COMMENT_PREFIXES = ("#", ";")


class IniProblem(ValueError):
    """The file is one botocore's reader refuses: ``line`` (1-based) and what is wrong."""

    def __init__(self, line: int, message: str) -> None:
        message = clean(message, limit=200)  # it quotes names and keys from the file
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass
class Line:
    """One physical line and what the reader makes of it."""

    text: str
    """The line with its ending."""
    kind: str
    """``blank``, ``comment``, ``header``, ``option``, ``continuation``, ``orphan`` or ``junk``."""
    section: int | None = None
    """Index into :attr:`Document.sections` of the section the line belongs to."""
    key: str | None = None
    """Lower-cased option name (``option``) or the option continued (``continuation``)."""
    option: int | None = None
    """Line index of the option a ``continuation`` (or blank line inside a value) extends."""
    indent: int = 0

    @property
    def body(self) -> str:
        return self.text.rstrip("\r\n")

    @property
    def ending(self) -> str:
        return self.text[len(self.body) :]


@dataclass
class Section:
    """A ``[name]`` header and the lines up to the next header."""

    name: str
    header: int
    end: int
    """Index of the first line after the section (the next header or the end of the file)."""


@dataclass
class Document:
    lines: list[Line]
    sections: list[Section]
    problems: list[IniProblem] = field(default_factory=list)

    def named(self, name: str) -> list[Section]:
        """Every section whose header name is exactly ``name``."""
        return [section for section in self.sections if section.name == name]

    def text(self) -> str:
        return "".join(line.text for line in self.lines)

    def values(self, name: str) -> dict[str, str] | None:
        """The options of section ``name`` as the reader returns them (no defaults merged)."""
        found = self.named(name)
        if not found:
            return None
        return _values_of(self.lines[found[0].header + 1 : found[0].end])

    def defaults(self) -> dict[str, str]:
        """The options of every ``[DEFAULT]`` block, which the reader merges into each section."""
        merged: dict[str, str] = {}
        for index, line in enumerate(self.lines):
            if line.kind == "header" and line.section is None:
                end = next(
                    (i for i in range(index + 1, len(self.lines)) if self.lines[i].kind == "header"), len(self.lines)
                )
                merged.update(_values_of(self.lines[index + 1 : end]))
        return merged


def _values_of(lines: list[Line]) -> dict[str, str]:
    result: dict[str, list[str]] = {}
    current: str | None = None
    for line in lines:
        if line.kind == "option" and line.key is not None:
            match = _OPTCRE.match(line.body.strip())
            assert match is not None
            current = line.key
            result[current] = [match.group("value").strip()]
        elif line.kind == "continuation" and current is not None:
            result[current].append(line.body.strip())
        elif line.kind == "blank" and line.option is not None and current is not None:
            result[current].append("")
    return {key: "\n".join(parts).rstrip() for key, parts in result.items()}


def split_lines(text: str) -> list[str]:
    """Split ``text`` as a file in text mode does: at ``\\r\\n``, ``\\r`` and ``\\n``, endings kept."""
    return _LINE.findall(text)


def newline_of(text: str) -> str:
    """The line ending the file already uses (its first one), ``\\n`` for a file without any."""
    match = re.search(r"\r\n|\r|\n", text)
    return match.group(0) if match else "\n"


def parse(text: str) -> Document:
    """Classify every line of ``text`` the way ``RawConfigParser.read`` does."""
    reader = _Reader()
    for number, raw in enumerate(split_lines(text)):
        reader.feed(number, raw)
    lines, sections, problems = reader.lines, reader.sections, reader.problems
    for index, item in enumerate(sections):
        item.end = sections[index + 1].header if index + 1 < len(sections) else len(lines)
    _close_defaults(lines, sections)
    _check_nested(lines, sections, problems)
    problems.sort(key=lambda problem: problem.line)
    return Document(lines, sections, problems)


class _Reader:
    """The state ``RawConfigParser._read`` keeps between lines: section, current option, its indentation."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.sections: list[Section] = []
        self.problems: list[IniProblem] = []
        self.seen_sections: set[str] = set()
        self.seen_options: set[tuple[str, str]] = set()
        self.section: int | None = None
        self.section_name: str | None = None
        self.in_defaults = False
        self.option: int | None = None  # line index of the current option ("optname" in configparser)
        self.option_key: str | None = None
        self.indent_level = 0

    def feed(self, number: int, raw: str) -> None:
        """Classify line ``number`` (0-based) and move the state on, as the reader's loop does."""
        body = raw.rstrip("\r\n")
        stripped = body.strip()
        if stripped.startswith(COMMENT_PREFIXES):
            self.lines.append(Line(raw, "comment", self.section))
            return
        if not stripped:
            option = self.option if self.option_key else None
            self.lines.append(Line(raw, "blank", self.section, self.option_key, option))
            return
        indent = _NONSPACE.search(body).start()  # type: ignore[union-attr]  # stripped is not empty
        if (self.section is not None or self.in_defaults) and self.option_key and indent > self.indent_level:
            self.lines.append(Line(raw, "continuation", self.section, self.option_key, self.option, indent))
            return
        self.indent_level = indent
        header = _SECTCRE.match(stripped)
        if header:
            self._header(number, raw, header.group("header"), indent)
        elif self.section is None and not self.in_defaults:
            self._orphan(number, raw, body, indent)
        else:
            self._option(number, raw, stripped, indent)

    def _header(self, number: int, raw: str, name: str, indent: int) -> None:
        """A ``[name]`` line: a new section, or back into ``[DEFAULT]``; a section seen twice is refused."""
        self.option, self.option_key = None, None
        if name == DEFAULT_SECTION:
            self.in_defaults, self.section, self.section_name = True, None, DEFAULT_SECTION
            self.lines.append(Line(raw, "header", None, indent=indent))
            return
        if name in self.seen_sections:
            self.problems.append(IniProblem(number + 1, f"section [{name}] appears more than once"))
        self.seen_sections.add(name)
        self.in_defaults = False
        self.sections.append(Section(name, number, -1))
        self.section, self.section_name = len(self.sections) - 1, name
        self.lines.append(Line(raw, "header", self.section, indent=indent))

    def _orphan(self, number: int, raw: str, body: str, indent: int) -> None:
        """Text before the first header (a BOM included): the reader refuses the file."""
        what = (
            "a byte order mark (BOM) before the first [section] header"
            if body.startswith("\ufeff")
            else "text before the first [section] header"
        )
        self.problems.append(IniProblem(number + 1, what))
        self.lines.append(Line(raw, "orphan", None, indent=indent))

    def _option(self, number: int, raw: str, stripped: str, indent: int) -> None:
        """A ``key = value`` line (a key seen twice in a section is refused), or junk."""
        match = _OPTCRE.match(stripped)
        if not match or not match.group("option").rstrip():
            self.problems.append(IniProblem(number + 1, "neither a [section], a key = value line, nor a comment"))
            self.lines.append(Line(raw, "junk", self.section, indent=indent))
            if match:  # configparser still starts an (unnamed) option here
                self.option, self.option_key = number, ""
            return
        key = match.group("option").rstrip().lower()
        if (self.section_name or "", key) in self.seen_options:
            self.problems.append(IniProblem(number + 1, f"key {key!r} appears twice in [{self.section_name}]"))
        self.seen_options.add((self.section_name or "", key))
        self.option, self.option_key = number, key
        self.lines.append(Line(raw, "option", self.section, key, number, indent))


def _close_defaults(lines: list[Line], sections: list[Section]) -> None:
    """A ``[DEFAULT]`` block ends a section early: its lines belong to no section."""
    for item in sections:
        for index in range(item.header + 1, item.end):
            if lines[index].kind == "header":  # only [DEFAULT] headers remain inside a section's range
                item.end = index
                break


def _check_nested(lines: list[Line], sections: list[Section], problems: list[IniProblem]) -> None:
    """botocore parses a value that starts on the next line as ``key = value`` pairs (``s3 =``).

    It does so for every option of every section, ``[DEFAULT]`` options merged in.
    """
    document = Document(lines, sections)
    defaults = document.defaults() if sections else {}
    for item in sections:
        own = _values_of(lines[item.header + 1 : item.end]) if document.named(item.name)[0] is item else {}
        for key, value in (defaults | own).items():
            if value.startswith("\n") and any(part.strip() and "=" not in part for part in value.splitlines()):
                where = range(item.header, item.end) if key in own else range(len(lines))
                line = next(
                    i
                    for i in where
                    if lines[i].key == key and lines[i].kind == "option" and (key in own or lines[i].section is None)
                )
                problems.append(IniProblem(line + 1, f"the nested value of {key!r} has a line without '='"))


def check_section_name(name: str) -> str | None:
    """Why ``name`` cannot be written as a header the reader gives back unchanged, or None."""
    if not name:
        return "it is empty"
    if name != name.strip():
        return "it starts or ends with white space, which a [header] keeps and readers then disagree on"
    if any(ch in name for ch in "[]"):
        return "it contains a bracket"
    if any(ch in name for ch in "\r\n") or any(not ch.isprintable() for ch in name):
        return "it contains a line break or a control character"
    if name == DEFAULT_SECTION:
        return "[DEFAULT] is not a profile: its keys would apply to every profile"
    return None


def check_value(value: str) -> str | None:
    """Why ``value`` would not read back unchanged after ``key = value``, or None."""
    if any(ch in value for ch in "\r\n"):
        return "it contains a line break"
    if value != value.strip():
        return "it starts or ends with white space"
    return None


def set_values(text: str, name: str, values: Mapping[str, str]) -> str:
    """Return ``text`` with ``values`` set in section ``[name]``; every other byte stays as it was.

    * An existing key is replaced in place (same indentation, same line ending) and its
      continuation lines are dropped; repeats of a managed key in the section are removed
      (the reader refuses a key twice).
    * Missing keys go after the section's last key, before trailing blank lines and
      comments, indented like that key so the lines around keep their meaning.
    * A missing section is appended at the end after one blank line.
    * A file the reader refuses for any other reason raises :class:`IniProblem`: writing
      into it would report success for a file the SDKs cannot use.
    """
    problem = check_section_name(name)
    if problem:
        raise ValueError(f"cannot write section [{name}]: {problem}")
    for key, value in values.items():
        problem = check_value(value)
        if problem:
            raise ValueError(f"cannot write {key}: {problem}")
    document = parse(text)
    managed = {key.lower(): key for key in values}
    found = document.named(name)
    fixable = {id(p) for p in _fixable_problems(document, found, managed)}
    remaining = [p for p in document.problems if id(p) not in fixable]
    if remaining:
        raise remaining[0]
    newline = newline_of(text)
    if not found:
        return _append_section(text, name, values, newline)
    return _rewrite_section(document, found[0], values, managed, newline)


def _fixable_problems(document: Document, found: list[Section], managed: Mapping[str, str]) -> list[IniProblem]:
    """Repeats of a managed key inside the target section: the rewrite removes them."""
    if len(found) != 1:
        return []
    section = found[0]
    repeated = []
    for problem in document.problems:
        index = problem.line - 1
        line = document.lines[index]
        if section.header < index < section.end and line.kind == "option" and line.key in managed:
            repeated.append(problem)
    return repeated


def _append_section(text: str, name: str, values: Mapping[str, str], newline: str) -> str:
    out = text
    if out and not out.endswith(("\n", "\r")):
        out += newline
    lines = split_lines(out)
    if any(line.strip() for line in lines) and lines[-1].strip():
        out += newline
    block = [f"[{name}]"] + [f"{key} = {value}" for key, value in values.items()]
    return out + newline.join(block) + newline


def _rewrite_section(
    document: Document, section: Section, values: Mapping[str, str], managed: Mapping[str, str], newline: str
) -> str:
    lines = document.lines
    kept = _replace_managed(lines, section, values, managed, newline)
    header = lines[section.header].text
    missing = [key for key in values if key.lower() not in kept.written]
    if missing:
        header = _insert_missing(kept, lines, section, header, [f"{key} = {values[key]}" for key in missing], newline)
    head = "".join(line.text for line in lines[: section.header])
    tail = "".join(line.text for line in lines[section.end :])
    return head + header + "".join(kept.out) + tail


@dataclass
class _Kept:
    """A section's body after managed keys were replaced, and where new keys go."""

    out: list[str] = field(default_factory=list)
    written: set[str] = field(default_factory=set)
    """Lower-cased managed keys already written in place."""
    last_content: int = -1
    """Index in :attr:`out` of the last option/continuation line kept."""
    last_option_indent: str | None = None


def _replace_managed(
    lines: list[Line], section: Section, values: Mapping[str, str], managed: Mapping[str, str], newline: str
) -> _Kept:
    """Replace each managed key in place (first occurrence), drop its repeats and their continuations."""
    kept = _Kept()
    dropped_options: set[int] = set()
    for index in range(section.header + 1, section.end):
        line = lines[index]
        if line.kind == "continuation" and line.option in dropped_options:
            continue
        if line.kind == "option" and line.key is not None and line.key in managed:
            dropped_options.add(index)
            if line.key in kept.written:
                continue
            key = managed[line.key]
            kept.out.append(f"{line.body[: line.indent]}{key} = {values[key]}{line.ending or newline}")
            kept.written.add(line.key)
        else:
            kept.out.append(line.text)
        if line.kind in ("option", "continuation"):
            kept.last_content = len(kept.out) - 1
        if line.kind == "option":
            kept.last_option_indent = line.body[: line.indent]
    return kept


def _insert_missing(
    kept: _Kept, lines: list[Line], section: Section, header: str, new_lines: list[str], newline: str
) -> str:
    """Put ``new_lines`` after the last key, indented like it; return the header, given an ending if needed."""
    indent = kept.last_option_indent
    if indent is None:
        # No key yet: indent like the next header (if any) so it stays a header, not our continuation.
        following = lines[section.end] if section.end < len(lines) else None
        indent = following.body[: following.indent] if following is not None else ""
    insert_at = kept.last_content + 1
    if insert_at and not kept.out[insert_at - 1].endswith(("\n", "\r")):
        kept.out[insert_at - 1] += newline
    if insert_at == 0 and not header.endswith(("\n", "\r")):
        header += newline
    kept.out[insert_at:insert_at] = [f"{indent}{text}{newline}" for text in new_lines]
    return header
