"""What every sub-command builds its parser from.

Typed values with one message each, defaults read from where they are defined, and choices
read from a table only when an option is checked.
"""

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "LazyChoices",
    "add_option",
    "non_negative_int",
    "positive_int",
    "signature_defaults",
]


def _int_at_least(minimum: int, expected: str) -> Callable[[str], int]:
    """Make an argparse ``type`` accepting integers >= ``minimum``; ``expected`` names the range."""
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


def signature_defaults(*functions: Callable[..., Any]) -> dict[str, Any]:
    """Return ``{parameter: default}`` of every parameter with a default in ``functions``.

    Where two functions share a parameter, the first one's default is kept. This is where
    :func:`add_option`'s ``defaults`` come from for options that set a function's arguments.
    """
    import inspect

    out: dict[str, Any] = {}
    for fn in functions:
        for name, param in inspect.signature(fn).parameters.items():
            if param.default is not param.empty:
                out.setdefault(name, param.default)
    return out


def add_option(
    group: Any, defaults: Mapping[str, Any], field: str, *flags: str, **kwargs: Any
) -> None:
    """Add an option that sets ``field`` (``dest=field``), its default read from ``defaults``.

    ``defaults`` is where the value is defined (a config dataclass's fields, a function's
    signature), so the CLI never copies it; ``%(default)s`` in ``help`` shows it. ``flags``
    default to ``--field-with-dashes``. An option with a value gets a metavar named after its
    first flag, as argparse would name it, not after the field.
    """
    flags = flags or ("--" + field.replace("_", "-"),)
    kwargs.setdefault("default", defaults[field])
    if "action" not in kwargs and "choices" not in kwargs:
        kwargs.setdefault("metavar", flags[0].lstrip("-").replace("-", "_").upper())
    group.add_argument(*flags, dest=field, **kwargs)


positive_int = _int_at_least(1, "a positive integer")
"""argparse ``type`` for options that take a positive integer (same message everywhere)."""
non_negative_int = _int_at_least(0, "an integer >= 0")
"""argparse ``type`` for options that take an integer >= 0."""


class LazyChoices:
    """argparse ``choices`` read from ``module.attribute`` (a table's keys) on first use.

    Building the parser must stay cheap (``hrcam --help`` imports no torch, scipy or OpenCV),
    yet the names belong to the table they select from, so they are read only when an option
    is checked or its help is shown. Give the option a ``metavar``: argparse would otherwise
    list the choices when the option is added.
    """

    def __init__(self, module: str, attribute: str) -> None:
        self.module, self.attribute = module, attribute

    def _names(self) -> tuple[str, ...]:
        return tuple(getattr(importlib.import_module(self.module), self.attribute))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()
