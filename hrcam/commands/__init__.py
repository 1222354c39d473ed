"""Sub-commands of the ``hrcam`` command line.

Each module here defines ``register(subparsers)``, which adds one sub-command (with its own
sub-sub-commands, if any) and sets ``func`` on the parsed namespace. Heavy imports (torch)
happen inside the command functions so that ``hrcam --help`` is fast.
"""

from collections.abc import Callable

COMMAND_MODULES: tuple[str, ...] = ("data", "train", "explain", "evaluate", "book")


def _int_at_least(minimum: int, expected: str) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers >= ``minimum``; ``expected`` names the range."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1, "a positive integer")
"""argparse ``type`` for options that take a positive integer (same message everywhere)."""
non_negative_int = _int_at_least(0, "an integer >= 0")
"""argparse ``type`` for options that take an integer >= 0."""
