"""Rows of result tables: find a (method, metric) row, copy out its CI, print it, save it.

* :func:`find_row` -- the first row of a summary table with this method and metric;
* :func:`put_ci` -- its value and CI bounds copied out under ``key``, ``key_lo``, ``key_hi``;
* :func:`ci_text` -- those three read back as ``"value [low, high]"``;
* :func:`json_safe` -- values ready for strict JSON (NaN and infinity become ``None``).

The evaluation, the studies and the notebooks share them. Importing it costs numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["ci_text", "find_row", "json_safe", "put_ci"]


def find_row(rows: Sequence[Mapping[str, Any]], method: str, metric: str) -> Any:
    """Return the first row of a summary table with this ``method`` and ``metric``.

    Raises
    ------
    KeyError
        When the table has no such row.
    """
    for r in rows:
        if r["method"] == method and r["metric"] == metric:
            return r
    raise KeyError(f"no {metric!r} row for method {method!r}")


def put_ci(out: dict[str, Any], key: str, row: Mapping[str, Any], mean: str) -> None:
    """Copy ``row[mean]`` and its CI into ``out`` as floats: ``key``, ``key_lo``, ``key_hi``.

    ``mean`` names the estimate's column (``"mean"`` in a summary table, ``"difference"`` in
    a paired one); the bounds are ``ci_low`` and ``ci_high``.
    """
    out[key] = float(row[mean])
    out[f"{key}_lo"] = float(row["ci_low"])
    out[f"{key}_hi"] = float(row["ci_high"])


def ci_text(values: Mapping[str, Any], key: str, fmt: str = "+.3f") -> str:
    """``"value [low, high]"`` of ``values[key]``, ``values[key + "_lo"]`` and ``_hi``.

    Reads back what :func:`put_ci` wrote. A zero-width interval (as printed: one image, or
    a bootstrap over one or two units) prints as the value alone, since it would read as
    certainty.
    """
    value, low, high = (f"{values[k]:{fmt}}" for k in (key, key + "_lo", key + "_hi"))
    return value if low == high else f"{value} [{low}, {high}]"


def json_safe(value: Any) -> Any:
    """Return ``value`` ready for strict JSON: NaN/inf floats become ``None``.

    Dicts, lists and tuples are converted item by item, and numpy scalars become Python ones
    (JSON has no NaN or infinity, and a reader should not meet the ``NaN`` token).
    """
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
