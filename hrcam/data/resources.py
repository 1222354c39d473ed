"""The bundled tables of ``hrcam/resources/*.tsv``, each parsed once."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["resource_table"]


@cache
def resource_table(name: str) -> tuple[tuple[str, ...], ...]:
    """Return the rows of the bundled table ``hrcam/resources/NAME`` (tab-separated).

    The header line and blank lines are dropped; each row is its fields as strings, in file
    order. The result is cached (the files never change while hrcam runs) and immutable, so
    every reader of a table shares one parse.

    Parameters
    ----------
    name
        File name inside ``hrcam/resources``, e.g. ``"imagenet_classes.tsv"``.
    """
    text = resources.files("hrcam").joinpath("resources", name).read_text()
    return tuple(tuple(line.split("\t")) for line in text.splitlines()[1:] if line.strip())
