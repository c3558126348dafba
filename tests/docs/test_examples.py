"""Every runnable example in README.md and docs/ runs, so a doc example that breaks fails CI.

One test per fenced block (id: page and line). Blocks of one page share a sandbox and run
in order (tests/docs/sandbox.py describes what the sandbox holds). A block marked
``<!-- doc-test: skip (reason) -->`` is reported as skipped with its reason; the skips are
counted, and :data:`MAX_SKIPS` keeps them rare.
"""

from __future__ import annotations

import pytest

from tests.docs.blocks import Block, all_blocks, blocks_of, doc_files
from tests.docs.sandbox import Sandbox, needs, new_sandbox

pytestmark = pytest.mark.network

MAX_SKIPS = 6  # today: the bootstrap script, a YubiKey, the site build; install lines that change the environment
BLOCKS = [block for block in all_blocks() if block.runnable]
_SANDBOXES: dict[str, Sandbox] = {}


def _page_blocks(block: Block) -> list[Block]:
    return [other for other in BLOCKS if other.path == block.path]


def _sandbox_for(block: Block, request: pytest.FixtureRequest, tmp_path_factory) -> Sandbox:
    key = str(block.path)
    if key not in _SANDBOXES:
        want_hsm, want_tpm = needs(_page_blocks(block))
        _SANDBOXES[key] = new_sandbox(
            tmp_path_factory.mktemp("doc-" + block.path.stem),
            request.getfixturevalue("docs_emulator"),
            request.getfixturevalue("pki"),
            hsm=request.getfixturevalue("hsm") if want_hsm else None,
            tpm=request.getfixturevalue("docs_tpm") if want_tpm else None,
        )
    return _SANDBOXES[key]


def _marks(block: Block) -> list[pytest.MarkDecorator]:
    """The hardware markers of the block's page, so ``-m "not swtpm"`` deselects what needs a TPM."""
    want_hsm, want_tpm = needs(_page_blocks(block))
    return [mark for wanted, mark in ((want_hsm, pytest.mark.softhsm), (want_tpm, pytest.mark.swtpm)) if wanted]


@pytest.mark.parametrize("block", [pytest.param(block, id=block.where, marks=_marks(block)) for block in BLOCKS])
def test_example_runs(block: Block, request, tmp_path_factory):
    if block.skip_reason:
        pytest.skip(f"{block.where}: {block.skip_reason}")
    sandbox = _sandbox_for(block, request, tmp_path_factory)
    # A page's blocks build on each other: run the earlier ones first when selected alone.
    for earlier in _page_blocks(block):
        if earlier.line >= block.line:
            break
        if not earlier.skip_reason and earlier.line not in sandbox.done:
            sandbox.run(earlier)
            sandbox.done.add(earlier.line)
    sandbox.run(block)
    sandbox.done.add(block.line)


def test_skips_are_few_and_give_a_reason():
    skipped = [block for block in BLOCKS if block.skip_reason]
    listing = "\n".join(f"  {block.where}: {block.skip_reason}" for block in skipped)
    assert len(skipped) <= MAX_SKIPS, f"{len(skipped)} doc examples are skipped (at most {MAX_SKIPS}):\n{listing}"


def test_every_page_is_scanned_and_has_runnable_examples():
    pages = doc_files()
    assert any(page.name == "README.md" for page in pages)
    assert len(BLOCKS) >= 10, [block.where for block in BLOCKS]
    for page in pages:
        blocks_of(page)  # a malformed doc-test marker raises here, naming the line


def test_malformed_marker_is_an_error(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- doc-test: skip -->\n```bash\ntrue\n```\n")
    with pytest.raises(ValueError, match="malformed doc-test marker"):
        blocks_of(page)


def test_marker_skips_only_the_next_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- doc-test: skip (needs a YubiKey) -->\n```bash\nykman list\n```\n\n```text\nnot run\n```\n"
        "```sh\necho run\n```\n"
    )
    found = blocks_of(page)
    assert [(b.info, b.skip_reason, b.runnable) for b in found] == [
        ("bash", "needs a YubiKey", True),
        ("text", None, False),
        ("sh", None, True),
    ]
    assert found[2].text == "echo run\n"


def test_title_makes_a_file_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text('```toml title="pkg/pyproject.toml"\n[project]\nname = "x"\n```\n```text\nshown only\n```\n')
    found = blocks_of(page)
    assert [(b.info, b.title, b.runnable) for b in found] == [
        ("toml", "pkg/pyproject.toml", True),
        ("text", None, False),
    ]


def test_console_blocks_run_their_prompt_lines_only():
    from tests.docs.sandbox import _console_commands

    transcript = "$ rasign version\n0.1.0\n$ echo one \\\n    two\none two\n# a comment\n"
    assert _console_commands(transcript) == "rasign version\necho one \\\n    two\n"


def _bare_sandbox(tmp_path) -> Sandbox:
    import os

    (tmp_path / "home").mkdir()
    return Sandbox(root=tmp_path, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")})


def test_a_failing_example_fails_naming_its_place(tmp_path):
    from tests.docs.sandbox import ExampleFailed

    page = tmp_path / "page.md"
    page.write_text("# page\n\n```bash\necho about to fail >&2\nfalse\necho never\n```\n")
    (block,) = blocks_of(page)
    with pytest.raises(ExampleFailed, match=r"page\.md:3 \(bash\) exited 1(.|\n)*about to fail"):
        _bare_sandbox(tmp_path).run(block)


def test_what_a_block_leaves_running_is_stopped(tmp_path):
    from pathlib import Path

    page = tmp_path / "page.md"
    page.write_text("```sh\nsleep 300 &\necho $! > sleeper.pid\n```\n")
    sandbox = _bare_sandbox(tmp_path)
    sandbox.run(blocks_of(page)[0])
    pid = int((sandbox.home / "sleeper.pid").read_text())
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split(") ", 1)[1].startswith("Z"), "background process still runs"


def test_an_ini_block_without_credential_process_is_refused(tmp_path):
    from tests.docs.sandbox import ExampleFailed

    page = tmp_path / "page.md"
    page.write_text("```ini\n[profile plain]\nregion = eu-west-1\n```\n")
    sandbox = _bare_sandbox(tmp_path)
    (sandbox.home / ".aws").mkdir()
    with pytest.raises(ExampleFailed, match="credential_process"):
        sandbox.run(blocks_of(page)[0])
