"""How a notebook's resolved parameters show on its page: a small table, no machine path.

:func:`hrcam.profiles.notebook_config` returns a :class:`NotebookConfig`; the notebooks
display it in their second cell so that a reader sees which values the page ran with.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

__all__ = ["NotebookConfig", "config_markdown"]


def _shown(name: str, value: Any) -> str:
    """One value as the page shows it (in a code literal, so that it can be copied)."""
    if name == "run_dir":
        # The run folder's name only: its absolute location is the builder's file system,
        # which a published page must not show.
        return f"`{PurePath(str(value)).name}`"
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
        Parameter names and values, e.g. from :func:`hrcam.profiles.notebook_config`.

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
