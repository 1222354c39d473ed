"""Exceptions shared across hrcam."""


class CLIError(Exception):
    """An error meant for the user: the CLI prints ``hrcam: error: ...`` without a traceback."""
