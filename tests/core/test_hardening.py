"""Long-running commands make themselves non-dumpable and drop secrets from the environment."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_harden_process_in_a_child():
    code = textwrap.dedent(
        """
        import os, resource
        from rasign.hardening import harden_process
        os.environ["RASIGN_PKCS11_PIN"] = "123456"
        os.environ["KEEP_ME"] = "1"
        missing = harden_process()
        import ctypes
        libc = ctypes.CDLL(None)
        print(missing, libc.prctl(3, 0, 0, 0, 0))
        print(resource.getrlimit(resource.RLIMIT_CORE))
        print("RASIGN_PKCS11_PIN" in os.environ, os.environ.get("KEEP_ME"))
        print(open("/proc/self/environ", "rb").read().count(b"123456"))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[] 0"  # nothing missing; PR_GET_DUMPABLE answers 0
    assert out[1] == "(0, 0)"
    assert out[2] == "False 1"
    # /proc/self/environ is the initial environment block; the variable was set after start,
    # so only the live environment matters here: the count documents that it is not there.
    assert out[3] == "0"
