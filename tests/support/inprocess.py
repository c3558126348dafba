"""Run the rasign CLI inside the test process, for cases about exit codes and messages.

A fresh ``python -m rasign`` costs an interpreter start and the imports of cryptography and
requests (about 0.1 s of CPU each time, several times that in wall time on a loaded
machine). Where a test checks only what a command prints and the code it returns,
:func:`run_in_process` gives the same :class:`subprocess.CompletedProcess` that
``tests.conftest.run_rasign`` gives, with the same environment (``clean_env``), through
:func:`rasign.cli.main.main`, the code path of the console script after interpreter start.

Keep real processes for anything about the process itself: hardening, signals, ``/proc``,
environment scrubbing, terminals and prompts, stdout purity, the agent fast path in
``rasign.entry``, and the native PKCS#11 and TPM libraries (which keep per-process state).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest


def _rasign_loggers() -> dict[str, logging.Logger]:
    return {
        name: logger
        for name, logger in logging.root.manager.loggerDict.items()
        if name.startswith("rasign") and isinstance(logger, logging.Logger)
    }


@contextlib.contextmanager
def rasign_logging_restored() -> Iterator[None]:
    """Undo what a command does to rasign's loggers (levels, ``--debug``'s handler).

    Else the next case, or an emulator thread of this process, would log through them.
    """
    levels = {name: logger.level for name, logger in _rasign_loggers().items()}
    try:
        yield
    finally:
        logging.getLogger("rasign").handlers.clear()
        for name, logger in _rasign_loggers().items():
            logger.setLevel(levels.get(name, logging.NOTSET))


def run_in_process(
    args: tuple[str, ...], *, env: dict[str, str] | None, input: str | None, capfd: Any
) -> subprocess.CompletedProcess:
    """``rasign ARGS`` in this process, with exactly the variables a child of ``run_rasign`` gets.

    The environment and ``sys.stdin`` are restored afterwards; ``capfd`` (the test's fixture)
    collects what the command wrote to file descriptors 1 and 2.
    """
    from rasign.cli.main import main
    from tests.conftest import clean_env

    wanted = clean_env(env)
    capfd.readouterr()
    with pytest.MonkeyPatch.context() as patch, rasign_logging_restored():
        for name in list(os.environ):
            if name not in wanted:
                patch.delenv(name)
        for name, value in wanted.items():
            if os.environ.get(name) != value:
                patch.setenv(name, value)
        patch.setattr(sys, "stdin", io.StringIO(input or ""))
        try:
            code = main(list(args), prog="rasign")
        except SystemExit as stop:  # main() returns the code; this is only a safety net
            code = stop.code if isinstance(stop.code, int) else 1
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(["rasign", *args], code, out, err)
