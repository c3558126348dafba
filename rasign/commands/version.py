"""``rasign version``: print the version, as ``aws_signing_helper version`` does."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    """No flags."""


def run(args: argparse.Namespace) -> int:
    """Print the version followed by a newline."""
    from rasign import __version__

    sys.stdout.write(f"{__version__}\n")
    return 0
