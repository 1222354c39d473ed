"""The cost–quality front: which methods no other beats on both localization and runtime.

Read from an evaluation's summary rows (``method``, ``metric``, ``mean``, as
:attr:`hrcam.evaluate.EvaluationResult.table` holds them), so the quality is whatever the
evaluator reports under its metric key (PxAP: ``"pxap"``) and the cost its measured
``"runtime_ms"`` per image (forward pass included).

>>> rows = [{"method": "a", "metric": "pxap", "mean": 0.5},
...         {"method": "a", "metric": "runtime_ms", "mean": 10.0},
...         {"method": "b", "metric": "pxap", "mean": 0.4},
...         {"method": "b", "metric": "runtime_ms", "mean": 20.0}]
>>> pareto_front(rows)
['a']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["cost_quality_points", "cost_ranking_lines", "pareto_front"]


def cost_quality_points(
    rows: Iterable[Mapping[str, Any]], quality: str = "pxap", cost: str = "runtime_ms"
) -> dict[str, tuple[float, float]]:
    """Return ``{method: (cost, quality)}`` of the methods with a finite mean of both."""
    means: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.get("metric") in (quality, cost):
            means.setdefault(str(row["method"]), {})[str(row["metric"])] = float(row["mean"])
    return {
        m: (v[cost], v[quality])
        for m, v in means.items()
        if cost in v and quality in v and math.isfinite(v[cost]) and math.isfinite(v[quality])
    }


def pareto_front(
    rows: Iterable[Mapping[str, Any]], quality: str = "pxap", cost: str = "runtime_ms"
) -> list[str]:
    """Return the methods on the cost–quality front, cheapest first.

    A method is on the front when no other method is at least as cheap and at least as good
    and strictly better in one of the two (lower mean ``cost``, higher mean ``quality``).
    Methods without a finite mean of both are left out.

    Parameters
    ----------
    rows
        Summary rows with ``method``, ``metric`` and ``mean``.
    quality, cost
        Metric keys: higher ``quality`` is better, lower ``cost`` is better.

    Returns
    -------
    list[str]
        Method keys, by increasing cost (ties by decreasing quality).
    """
    points = cost_quality_points(rows, quality, cost)

    def dominated(c: float, q: float) -> bool:
        return any(oc <= c and oq >= q and (oc < c or oq > q) for oc, oq in points.values())

    front = [m for m, (c, q) in points.items() if not dominated(c, q)]
    return sorted(front, key=lambda m: (points[m][0], -points[m][1]))


def cost_ranking_lines(
    rows: Iterable[Mapping[str, Any]],
    labels: Mapping[str, str],
    quality: str = "pxap",
    cost: str = "runtime_ms",
    quality_label: str = "PxAP",
) -> list[str]:
    """Markdown lines: every method by increasing cost, its quality, and whether it is on the front.

    Empty when no method has both a cost and a quality.
    """
    rows = list(rows)
    points = cost_quality_points(rows, quality, cost)
    if not points:
        return []
    front = set(pareto_front(rows, quality, cost))
    cheapest = min(c for c, _ in points.values())
    lines = [
        f"| Method | ms / image | × cheapest | {quality_label} | on the front |",
        "|---|---|---|---|---|",
    ]
    for m in sorted(points, key=lambda k: (points[k][0], -points[k][1])):
        c, q = points[m]
        ratio = c / cheapest if cheapest > 0 else math.nan
        lines.append(
            f"| {labels.get(m, m)} | {c:.1f} | {ratio:.1f} | {q:.3f} | "
            f"{'yes' if m in front else ''} |"
        )
    return lines
