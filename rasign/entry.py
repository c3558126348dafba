"""The console-script entry: ask a running agent first, before loading the CLI.

``credential-process`` runs for every AWS CLI call. When a ``rasign agent`` listens, its
answer needs one socket round trip, so this module imports only the agent client (standard
library) and hands everything else to :mod:`rasign.cli.main`.
"""

from __future__ import annotations

import os
import sys

_SKIP_AGENT = frozenset({"--help", "-h", "--debug", "--no-agent", "help"})


def run() -> None:
    """``rasign`` / ``aws_signing_helper`` / ``python -m rasign``."""
    argv = sys.argv[1:]
    if argv[:1] == ["credential-process"] and not _SKIP_AGENT.intersection(argv) and _agent_may_answer(argv):
        from rasign.agent.client import run_fast_path

        code = run_fast_path(argv[1:])
        if code is not None:
            exit_now(code)
    from rasign.cli.main import run as run_cli

    run_cli()


def _agent_may_answer(argv: list[str]) -> bool:
    """True when an agent is forced or its socket exists: otherwise the client is not even imported."""
    from rasign.agent import protocol

    return "--agent" in argv or os.path.exists(protocol.socket_path())


def exit_now(code: int) -> None:
    """Flush stdout and stderr, then leave without interpreter teardown (one-shot commands).

    Teardown costs about 15 ms once cryptography and the HTTPS client are loaded, and nothing of a
    one-shot command needs it; an unflushable stdout turns success into exit 1.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        code = code or 1
    os._exit(code)
