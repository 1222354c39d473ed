"""The ``hrcam`` command line: ``hrcam {data,train,explain,evaluate,book} ...``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hrcam._version import __version__
from hrcam.commands import COMMAND_MODULES
from hrcam.errors import HrcamError, describe_os_error


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="hrcam",
        description="High-Resolution Class Activation Mapping: data, training, refined CAMs, "
        "evaluation and the companion book.",
    )
    parser.add_argument("--version", action="version", version=f"hrcam {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"hrcam.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"hrcam.commands.{name}":
                continue  # sub-command not part of this build
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hrcam`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except (HrcamError, ValueError) as exc:
        # Expected, user-facing failures: say what is wrong, no traceback.
        print(f"hrcam: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # Filesystem trouble (a file where a folder should be, permissions, a full disk):
        # one line naming the path and what to do.
        print(f"hrcam: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hrcam: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
