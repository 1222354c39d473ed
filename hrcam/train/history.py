"""Per-epoch metrics of a run, written as CSV and JSON with atomic renames."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hrcam.atomic import atomic_write_text
from hrcam.core.tables import json_safe

__all__ = [
    "read_history",
]


def history_to_csv(history: Sequence[dict[str, Any]]) -> str:
    """CSV text with one row per epoch; the columns are the union of the keys, in order."""
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow(row)
    return buffer.getvalue()


def write_history(run_dir: str | Path, history: Sequence[dict[str, Any]]) -> tuple[Path, Path]:
    """Write ``metrics.csv`` and ``metrics.json`` into ``run_dir``; return their paths."""
    run_dir = Path(run_dir)
    csv_path = atomic_write_text(run_dir / "metrics.csv", history_to_csv(history))
    rows = [json_safe(row) for row in history]
    json_path = atomic_write_text(run_dir / "metrics.json", json.dumps(rows, indent=2) + "\n")
    return csv_path, json_path


def read_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """Read ``metrics.json`` back (``[]`` when the run has not finished an epoch yet)."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))
