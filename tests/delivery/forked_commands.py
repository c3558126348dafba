"""Run one rasign command line in N processes at once: ``python -m tests.delivery.forked_commands N ARGS...``.

Twenty ``python -m rasign`` start-ups cost about a second of CPU each, nearly all of it
importing the same modules, so a concurrency test spent most of its time starting Python.
Here one process imports rasign once and forks N children that run the real CLI
(:func:`rasign.cli.main.main`) released together through a pipe: N real processes with
their own descriptors, locks and CreateSession calls, contending at least as hard as N
separate start-ups would. ``{i}`` in ARGS becomes the child's index. Prints a JSON list of
``[exit status, stderr]``, one per child, in index order.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def _preload() -> None:
    """Import what every child needs before forking (the forks share it copy-on-write)."""
    import requests  # noqa: F401

    import rasign.backends.file  # noqa: F401
    import rasign.commands.update  # noqa: F401
    import rasign.session  # noqa: F401
    import rasign.workflow  # noqa: F401


def _child(index: int, template: list[str], release: int, stderr: int) -> None:
    from rasign.cli.main import main

    os.read(release, 1)  # wait until every child exists
    os.dup2(stderr, 2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        code = main([arg.replace("{i}", str(index)) for arg in template])
    finally:
        sys.stderr.flush()
    os._exit(code)


def main() -> int:
    count, template = int(sys.argv[1]), sys.argv[2:]
    _preload()
    release, go = os.pipe()
    children = []
    for index in range(count):
        stderr = tempfile.TemporaryFile()
        pid = os.fork()
        if pid == 0:
            os.close(go)
            _child(index, template, release, stderr.fileno())
        children.append((pid, stderr))
    os.close(release)
    os.write(go, b"x" * count)
    results = []
    for pid, stderr in children:
        _, status = os.waitpid(pid, 0)
        stderr.seek(0)
        results.append([os.waitstatus_to_exitcode(status), stderr.read().decode("utf-8", "replace")])
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
