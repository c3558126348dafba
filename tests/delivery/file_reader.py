"""Read a credentials file over and over while others rewrite it: ``python -m tests.delivery.file_reader PATH``.

Runs in its own process (a reader in the test process would compete for the GIL with the
emulator answering the writers). Reads until stdin closes, checking every read: the
preamble (stdin's first line, JSON-encoded) is intact, the file parses, and every section
named ``w...`` has all four credential keys. Prints ``{"reads": N, "problems": [...]}``.
"""

from __future__ import annotations

import configparser
import json
import sys
import threading
from pathlib import Path


def problems_in(text: str, preamble: str, prefix: str, keys: int) -> list[str]:
    """What is wrong with one read: the preamble changed, the file does not parse, or a
    section named ``prefix...`` lacks some of its ``keys`` lines (a torn write)."""
    problems = [] if text.startswith(preamble) else ["preamble changed"]
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as err:
        return [*problems, f"unparseable: {err}"]
    return problems + [
        f"torn {name}" for name in parser.sections() if name.startswith(prefix) and len(parser[name]) != keys
    ]


def main() -> int:
    path = Path(sys.argv[1])
    preamble = json.loads(sys.stdin.readline())
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    reads, problems = 0, []
    print("reading", flush=True)
    while not done.is_set() or reads == 0:
        reads += 1
        problems.extend(problems_in(path.read_text(), preamble, "w", 4))
    print(json.dumps({"reads": reads, "problems": problems[:20]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
