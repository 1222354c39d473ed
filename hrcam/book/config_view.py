"""How a notebook's parameters and saved values show on its page: small tables, no repr.

:func:`hrcam.book.profiles.notebook_config` returns a :class:`NotebookConfig`; the notebooks
display it in their second cell so that a reader sees which values the page ran with.
:func:`values_markdown` shows a nested dict of results (a page's ``summary.json``) the same
way, instead of Python's ``{'key': ...}`` repr.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

__all__ = ["NotebookConfig", "config_markdown", "values_markdown"]


def _shown(name: str, value: Any) -> str:
    """One value as the page shows it (in a code literal, so that it can be copied)."""
    if name == "run_dir":
        # The run folder's name only: its absolute location is the builder's file system,
        # which a published page must not show.
        return f"`{PurePath(str(value)).name}`"
    if isinstance(value, str) and PurePath(value).is_absolute():
        # Any other folder given as a parameter (data_root, cutout_stamps): its name, marked
        # as shortened, for the same reason.
        return f"`…/{PurePath(value).name}`"
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ", ".join(f"`{v}`" for v in value) or "none"
    return f"`{value}`"


def config_markdown(config: dict[str, Any]) -> str:
    """Return the parameters as a two-column Markdown table.

    Parameters
    ----------
    config
        Parameter names and values, e.g. from :func:`hrcam.book.profiles.notebook_config`.

    Returns
    -------
    str
        ``| Parameter | Value |`` and one row per name, in order; ``run_dir`` is shown by
        its folder name only.
    """
    rows = [f"| `{name}` | {_shown(name, value)} |" for name, value in config.items()]
    return "\n".join(["| Parameter | Value |", "|---|---|", *rows])


class NotebookConfig(dict):
    """A notebook's parameters: a plain ``dict`` that renders as a table in the book."""

    def _repr_markdown_(self) -> str:
        return config_markdown(self)


def _flat(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for key, inner in value.items():
            rows += _flat(inner, f"{prefix} › {key}" if prefix else str(key))
        return rows
    return [(prefix, value)]


def _value_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "none"}[value]
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(v) for v in value) or "none"
    return str(value)


def values_markdown(values: dict[str, Any], what: str = "Value") -> str:
    """Return a nested dict of results as a two-column Markdown table, one row per leaf.

    Parameters
    ----------
    values
        E.g. a page's ``summary.json``; nested keys are joined with " › ".
    what
        The header of the first column.

    Returns
    -------
    str
        ``| what | |`` and one row per leaf value: floats to 4 significant digits, booleans
        as yes/no, lists comma-separated.
    """
    rows = [f"| {key} | {_value_text(value)} |" for key, value in _flat(values)]
    return "\n".join([f"| {what} | |", "|---|---|", *rows])
