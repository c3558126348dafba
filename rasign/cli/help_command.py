"""``rasign help [COMMAND]``: cobra's help command, for scripts and habits from the Go helper.

``help`` alone prints the program's help; ``help COMMAND`` prints exactly what
``COMMAND --help`` prints. Both go to stdout and exit 0.
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    """One optional positional: the command whose help to show."""
    parser.add_argument("topic", nargs="?", metavar="COMMAND", help="the command to describe")


def run(args: argparse.Namespace) -> int:
    """Print the help of ``args.topic`` (or of the program) on stdout."""
    from rasign.cli.main import COMMANDS, build_parser
    from rasign.errors import UsageError

    prog = args._prog
    topic = args.topic
    if topic is not None and topic not in COMMANDS:
        raise UsageError(f'unknown help topic "{topic}"', hint=f"run '{prog} help' for the commands")
    root = build_parser(prog, only=topic)
    if topic is None:
        root.print_help(sys.stdout)
        return 0
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.choices[topic].print_help(sys.stdout)
    return 0
