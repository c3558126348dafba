"""Keep what PKCS#11 modules print on stderr themselves out of rasign's one-line errors.

tpm2-pkcs11 is the loud one (issue 14): the tpm2-tss libraries under it print
``ERROR:esys:...`` and ``ERROR:tcti:...`` lines, the tabrmd TCTI prints GLib
``CRITICAL`` lines when no resource manager answers, and tpm2-pkcs11 itself prints
``ERROR: Could not initialize tpm ctx`` -- all before rasign's own message, and even when
the token rasign wants is on another module behind p11-kit-proxy. rasign's message names
the CKR value the module returned, which says the same thing once.

Two measures, because no single one covers every source:

* ``TSS2_LOG=all+NONE`` before any module is loaded (tpm2-tss reads it when it first
  logs), unless the user set ``TSS2_LOG`` or asked for ``--debug``;
* file descriptor 2 redirected to a temporary file around ``C_Initialize`` and the user
  ``C_Login`` (where the GLib and tpm2-pkcs11 lines come from), only while rasign is single-
  threaded; what was captured is logged at debug level, cleaned.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("rasign.pkcs11")


def debugging() -> bool:
    return logging.getLogger("rasign").isEnabledFor(logging.DEBUG)


def quiet_tss2_logging() -> None:
    """Silence tpm2-tss's own log lines unless the user chose a level or runs ``--debug``."""
    if "TSS2_LOG" in os.environ or debugging():
        return
    os.environ["TSS2_LOG"] = "all+NONE"


@contextmanager
def module_stderr_captured(what: str) -> Iterator[None]:
    """Run a module call with fd 2 pointing at a temporary file; log what it wrote.

    Under ``--debug`` nothing is redirected (the user wants to see the module), nor while
    other threads run (``serve``): fd 2 is process-wide, and their log lines must not vanish.
    """
    if debugging() or threading.active_count() > 1:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (closed, or a test capture): nothing to protect
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(16384).decode("utf-8", "replace")
            if text.strip():
                from rasign.textsafe import clean

                log.debug("the module wrote on stderr during %s: %s", what, clean(" | ".join(text.split("\n"))))
