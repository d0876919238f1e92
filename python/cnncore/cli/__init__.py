"""The command line: ``cnncore`` or ``python -m cnncore``.

Each subcommand lives in its own module of this package and registers itself through a
``register(subparsers)`` function that adds its parser and sets ``func`` to a function taking the
parsed arguments and returning the exit status. Errors a user can cause (a missing file, a bad
argument) are reported on one line on stderr with a non-zero status, never with a traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import config, images, lecture, model, shape

# The subcommand modules, in the order `cnncore --help` lists them.
SUBCOMMANDS = [model, lecture, images, shape, config]


class CommandError(Exception):
    """A failure to report to the user as one line (exit status 1)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnncore",
        description="cnncore: convolutional-network building blocks in a multithreaded C++ core.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["lecture"])
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"cnncore {args.command}: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, TypeError, OSError, MemoryError) as exc:
        print(f"cnncore {args.command}: error: {exc}", file=sys.stderr)
        return 1
