"""What an evaluation measured, and the one writer of result files.

:func:`save_outputs` writes a folder of results (CSV tables, JSON summaries, markdown reports,
compressed numpy arrays), each file atomically through :func:`hrcam.atomic.atomic_write`, so a
reader never sees a half-written file. :class:`EvaluationResult`, the evidence chapter's
:class:`~hrcam.studies.StudyResult` and the notebooks' stage summaries all go through it.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from hrcam.atomic import atomic_write, atomic_write_text
from hrcam.core.tables import find_row
from hrcam.evaluate.scoring import TABLE_METRICS

__all__ = ["COMPLETE_NAME", "EvaluationResult", "is_complete", "save_outputs", "write_json"]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _csv_value(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return "" if np.isnan(v) else f"{float(v):.6g}"
    if isinstance(v, np.generic):
        return v.item()
    return v


def _write_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Rows as CSV; the columns are every key of every row, in first-seen order."""
    keys: list[str] = list(dict.fromkeys(k for row in rows for k in row))

    def write(fh: IO[str]) -> None:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in keys})

    return atomic_write(path, write, text=True)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """``obj`` as JSON (numpy scalars and arrays become numbers and lists), atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default))


def _write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


_WRITERS = {".csv": _write_csv, ".json": write_json, ".md": atomic_write_text, ".npz": _write_npz}


COMPLETE_NAME = "complete.json"
"""The marker of a finished result set: written after every file of the set, listing them."""


def save_outputs(
    out_dir: str | os.PathLike, files: Mapping[str, Any], marker: bool = False
) -> dict[str, Path]:
    """Write result files into ``out_dir``, each atomically; the suffix picks the format.

    Parameters
    ----------
    out_dir
        Folder, created if needed.
    files
        ``{file name: content}`` in writing order: ``.csv`` a list of row dicts, ``.json``
        any JSON-able object (numpy values allowed), ``.md`` a string, ``.npz`` a mapping of
        name to array (compressed).
    marker
        The files form one result set: remove :data:`COMPLETE_NAME` first and write it after
        the last file, so that a set cut short (a full disk, a crash) has no marker, and
        :func:`is_complete` tells it from a finished one.

    Returns
    -------
    dict
        ``{file stem: path}`` in the order given (``"table.csv"`` -> ``"table"``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bad = [name for name in files if Path(name).suffix not in _WRITERS]
    if bad:
        raise ValueError(f"cannot write {bad[0]!r}: use one of {sorted(_WRITERS)}")
    if marker:
        (out / COMPLETE_NAME).unlink(missing_ok=True)
    paths = {
        Path(name).stem: _WRITERS[Path(name).suffix](out / name, c) for name, c in files.items()
    }
    if marker:
        write_json(out / COMPLETE_NAME, {"files": list(files)})
    return paths


def is_complete(out_dir: str | os.PathLike) -> bool:
    """Whether ``out_dir`` holds a finished result set: its marker and every file it lists."""
    try:
        listed = json.loads((Path(out_dir) / COMPLETE_NAME).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all((Path(out_dir) / name).is_file() for name in listed)


@dataclass
class EvaluationResult:
    """Everything :func:`evaluate` measured.

    Attributes
    ----------
    methods
        Method names in evaluation order.
    table
        One row per (method, metric): ``method``, ``label``, ``metric``, ``metric_label``,
        ``n``, ``mean``, ``ci_low``, ``ci_high``.
    per_image
        One record per (image, method): ``index``, ``label``, ``predicted``, ``target``,
        ``method`` and every per-image score (``nan`` where not computed).
    section5
        Rows of the §5 measurement (see :func:`section5_rows`).
    curves
        ``{method: {"thresholds", "mask_iou" (N, T), "box_iou" (N, T), "index" (N,)}}``.
    examples
        Images, masks and maps of the first ``keep_examples`` images, for plots:
        ``{"index", "image" (n, H, W, 3) uint8, "mask", "target", "maps": {method: (n, H, W)}}``.
    config
        The settings used.
    """

    methods: list[str]
    table: list[dict[str, Any]]
    per_image: list[dict[str, Any]]
    section5: list[dict[str, Any]]
    curves: dict[str, dict[str, np.ndarray]]
    examples: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    def value(self, method: str, metric: str) -> float:
        """Mean of ``metric`` for ``method`` from :attr:`table`."""
        return float(find_row(self.table, method, metric)["mean"])

    def scores(self, metrics: Iterable[str] = TABLE_METRICS) -> dict[str, dict[str, float]]:
        """Return ``{method label: {metric label: mean}}`` (the shape plotting helpers take)."""
        wanted = list(metrics)
        out: dict[str, dict[str, float]] = {}
        for row in self.table:
            if row["metric"] in wanted:
                out.setdefault(row["label"], {})[row["metric_label"]] = row["mean"]
        return out

    def to_markdown(self, title: bool = True, section_headings: bool = True) -> str:
        """Markdown report: summary table, §5 table and notes.

        Parameters
        ----------
        title
            Start with the report's ``#`` title (off when the page around it has its own).
        section_headings
            The §5 part under a ``##`` heading; else under a bold line, for a page where a
            heading would enter the table of contents.
        """
        from hrcam.evaluate.report import render_markdown

        return render_markdown(self, title=title, section_headings=section_headings)

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write the result files into ``out_dir`` and return their paths by name.

        The files are ``table.csv``, ``per_image.csv``, ``section5.csv``, ``report.md``,
        ``summary.json`` and ``curves.npz``, then the marker ``complete.json`` (see
        :func:`is_complete`): a set cut short by a full disk has none.
        """
        curves = {f"{m}__{k}": v for m, parts in self.curves.items() for k, v in parts.items()}
        return save_outputs(
            out_dir,
            {
                "table.csv": self.table,
                "per_image.csv": self.per_image,
                "section5.csv": self.section5,
                "report.md": self.to_markdown(),
                "summary.json": {
                    "config": self.config,
                    "table": self.table,
                    "section5": self.section5,
                },
                "curves.npz": curves,
            },
            marker=True,
        )
