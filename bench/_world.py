"""The world most benchmarks run in, set up once: byte code, a clean environment, a PKI with
one EC identity, and the local emulator trusting it.

Written once so that every benchmark times rasign under the same conditions (no inherited
``AWS_*``/``RASIGN_*`` settings, this checkout on ``PYTHONPATH``, byte code already compiled)
and a change to how rasign is pointed at the emulator is made in one place. Imported as
``_world`` for the same reason as ``_timing``: the benchmarks run as scripts.
"""

from __future__ import annotations

import compileall
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from rasign.emulator import Emulator


def compile_checkout() -> None:
    """Compile rasign and the backends to byte code before anything is timed.

    An installed package ships byte code; with PYTHONDONTWRITEBYTECODE set, an editable
    checkout would otherwise be recompiled from source by every process we time.
    """
    for package in ("rasign", "backends"):
        compileall.compile_dir(str(REPO / package), quiet=1)


def clean_env() -> dict[str, str]:
    """This process's environment without AWS_/RASIGN_ settings, with this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RASIGN_"))}
    env["PYTHONPATH"] = str(REPO)
    return env


@dataclass
class World:
    """A running emulator, the identity it trusts, a scratch folder and the environment to time in."""

    workdir: Path
    env: dict[str, str]
    cert: Path
    key: Path
    emulator: Emulator

    def session_flags(self) -> list[str]:
        """The flags that point rasign at the emulator (endpoint, CA, trust anchor, profile, role)."""
        from tests.support.flags import emulator_args

        return emulator_args(self.emulator)

    def identity_flags(self) -> list[str]:
        """The certificate and key flags of the bench identity."""
        return ["--certificate", str(self.cert), "--private-key", str(self.key)]

    def rasign(self, command: str, *extra: str) -> list[str]:
        """argv running ``rasign COMMAND`` in this interpreter with the bench identity and session."""
        return [sys.executable, "-m", "rasign", command, *self.identity_flags(), *self.session_flags(), *extra]


@contextmanager
def world(prefix: str, *, cache: bool = False, compile_code: bool = True) -> Iterator[World]:
    """Set up the world in a new temporary folder named ``prefix...``; the emulator stops on exit.

    ``cache`` points RASIGN_CACHE_DIR at a folder of the world, so cache figures never touch
    the user's cache.
    """
    if compile_code:
        compile_checkout()
    from rasign.emulator import Emulator
    from tests.support.pki import Pki

    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    env = clean_env()
    if cache:
        env["RASIGN_CACHE_DIR"] = str(workdir / "cache")
    pki = Pki(directory=workdir)
    cert, key = pki.software_identity("ec", stem="bench")
    with Emulator(trust_anchor_pems=[pki.root_pem], region="us-east-1") as emu:
        yield World(workdir=workdir, env=env, cert=cert, key=key, emulator=emu)
