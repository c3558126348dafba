"""Find the fenced code blocks of README.md and docs/**/*.md that the doc-example tests run.

A block runs when its info string is one of :data:`RUNNABLE` (``bash``, ``sh``, ``console``,
``ini``, ``python``) or when it names a file with ``title="PATH"`` (any language: the
block is written to PATH for the page's later blocks). It is skipped only when the line right before its fence is
``<!-- doc-test: skip (reason) -->`` with a non-empty reason; every other info string
(``text``, ``json``, none) is illustrative and never runs. The convention is described for
authors in docs/writing-docs.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNNABLE = frozenset({"bash", "sh", "console", "ini", "python"})
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_SKIP = re.compile(r"^\s*<!--\s*doc-test:\s*skip\s*\((?P<reason>[^)]*)\)\s*-->\s*$")
_MARKER = re.compile(r"<!--\s*doc-test\b")
_TITLE = re.compile(r'\btitle="(?P<title>[^"]+)"')


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language and its text (indentation removed)."""

    path: Path
    line: int
    info: str
    text: str
    skip_reason: str | None = None
    title: str | None = None
    """``title="PATH"`` on the fence: the block is a file the page's later blocks use."""

    @property
    def where(self) -> str:
        shown = self.path.relative_to(REPO) if REPO in self.path.parents else self.path
        return f"{shown}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.info in RUNNABLE or self.title is not None


def doc_files(repo: Path = REPO) -> list[Path]:
    """README.md and every Markdown page under docs/, in a stable order."""
    return [repo / "README.md", *sorted((repo / "docs").rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    """Every fenced block of ``path``; a malformed doc-test marker is an error, not a silent run."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        info = opening["info"].strip().split()[0].lower() if opening["info"].strip() else ""
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end].lstrip())
            end += 1
        title = _TITLE.search(opening["info"])
        found.append(
            Block(
                path,
                index + 1,
                info,
                "\n".join(body) + "\n",
                _skip_reason(path, lines, index),
                title["title"] if title else None,
            )
        )
        index = end + 1
    return found


def _skip_reason(path: Path, lines: list[str], fence_index: int) -> str | None:
    if fence_index == 0:
        return None
    previous = lines[fence_index - 1]
    if not _MARKER.search(previous):
        return None
    match = _SKIP.match(previous)
    if not match or not match["reason"].strip():
        raise ValueError(
            f"{path}:{fence_index}: malformed doc-test marker {previous.strip()!r}; "
            "write <!-- doc-test: skip (why this block cannot run) -->"
        )
    return match["reason"].strip()


def all_blocks(repo: Path = REPO) -> list[Block]:
    """Every fenced block of every doc file."""
    return [block for path in doc_files(repo) for block in blocks_of(path)]
