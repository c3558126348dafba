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


def main() -> int:
    path = Path(sys.argv[1])
    preamble = json.loads(sys.stdin.readline())
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    reads, problems = 0, []
    print("reading", flush=True)
    while not done.is_set() or reads == 0:
        text = path.read_text()
        reads += 1
        if not text.startswith(preamble):
            problems.append("preamble changed")
        parser = configparser.RawConfigParser()
        try:
            parser.read_string(text)
        except configparser.Error as err:
            problems.append(str(err))
            continue
        problems.extend(f"torn {name}" for name in parser.sections() if name.startswith("w") and len(parser[name]) != 4)
    print(json.dumps({"reads": reads, "problems": problems[:20]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
