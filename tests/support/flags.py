"""Command-line flags tests and benchmarks pass to rasign, written once.

Kept free of imports so that ``tests/conftest.py`` and the benchmarks can use it without
loading the emulator.
"""

from __future__ import annotations

from typing import Any


def emulator_args(emu: Any) -> list[str]:
    """The session flags that point rasign at the running emulator ``emu``."""
    return [
        "--endpoint",
        emu.endpoint,
        "--ca-bundle",
        str(emu.ca_bundle),
        "--trust-anchor-arn",
        emu.trust_anchor_arn,
        "--profile-arn",
        emu.profile_arn,
        "--role-arn",
        emu.role_arn,
    ]


def emulator_options(emu: Any) -> dict[str, str]:
    """The same as keyword arguments for :class:`rasign.options.SessionOptions` (or the Python API)."""
    return {
        "endpoint": emu.endpoint,
        "ca_bundle": str(emu.ca_bundle),
        "trust_anchor_arn": emu.trust_anchor_arn,
        "profile_arn": emu.profile_arn,
        "role_arn": emu.role_arn,
    }
