"""save_outputs: the one writer of result files (CSV, JSON, markdown, npz), atomic."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from hrcam.evaluate import save_outputs
from hrcam.studies import refinement_summary


def test_suffix_picks_the_format_and_paths_come_back_by_stem(tmp_path):
    rows = [{"a": 1, "b": float("nan")}, {"a": np.int64(2), "c": 0.123456789}]
    paths = save_outputs(
        tmp_path / "out",
        {
            "table.csv": rows,
            "summary.json": {"x": np.float32(0.5), "y": np.arange(3)},
            "report.md": "# hi\n",
            "curves.npz": {"m__iou": np.eye(2)},
        },
    )
    assert list(paths) == ["table", "summary", "report", "curves"]
    with paths["table"].open(newline="") as fh:
        read = list(csv.DictReader(fh))
    assert read == [{"a": "1", "b": "", "c": ""}, {"a": "2", "b": "", "c": "0.123457"}]
    assert json.loads(paths["summary"].read_text()) == {"x": 0.5, "y": [0, 1, 2]}
    assert paths["report"].read_text() == "# hi\n"
    np.testing.assert_array_equal(np.load(paths["curves"])["m__iou"], np.eye(2))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in paths.values()
    )  # no temporary files left behind


def test_unknown_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"cannot write 'x\.txt'"):
        save_outputs(tmp_path, {"x.txt": "no"})


def test_refinement_summary_reads_the_results():
    from hrcam.postprocess import refine

    rng = np.random.default_rng(0)
    low, high = rng.random((6, 6)).astype(np.float32), rng.random((48, 48)).astype(np.float32)
    res = refine(low, high, preset="paper")
    summary = refinement_summary({"paper": res})
    assert summary == {
        "paper": {
            "focal_points": len(res.focal_points),
            "lower": res.lower,
            "upper": res.upper,
            "region_ratio": res.region_ratio,
            "fallback": res.fallback,
        }
    }
    json.dumps(summary)  # plain values: the notebook writes it as JSON


def test_seconds_table_is_a_markdown_table_of_wall_times():
    from hrcam.evaluate import seconds_table

    times = {"training": 12.345, "plots": 0.04}
    assert seconds_table(times).splitlines() == [
        "| Part | seconds |",
        "|---|---|",
        "| training | 12.3 |",
        "| plots | 0.0 |",
    ]
    assert seconds_table(times, "Notebook", digits=0).splitlines()[0] == "| Notebook | seconds |"
    assert seconds_table(times, "Notebook", digits=0).splitlines()[2] == "| training | 12 |"
