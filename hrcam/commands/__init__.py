"""Sub-commands of the ``hrcam`` command line.

Each module here defines ``register(subparsers)``, which adds one sub-command (with its own
sub-sub-commands, if any) and sets ``func`` on the parsed namespace. Heavy imports (torch)
happen inside the command functions so that ``hrcam --help`` is fast.
"""

COMMAND_MODULES: tuple[str, ...] = ("data", "train", "explain", "evaluate", "book")
