"""benchmarks/train_throughput.py runs end to end at a tiny size and reports sane numbers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "train_throughput.py"


@pytest.mark.slow
def test_throughput_benchmark_tiny(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("hrcam_bench_train_throughput", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out_json = tmp_path / "bench.json"
    argv = ["--device", "cpu", "--image-size", "32", "--batch-size", "4", "--steps", "2"]
    argv += ["--warmup", "1", "--num-classes", "3", "--json", str(out_json)]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "ratio" in printed and "paper-scale run" in printed and "loader alone" in printed
    report = json.loads(out_json.read_text())
    assert report["loader_img_s"] > 0 and report["workers"] >= 0
    assert [r["task"] for r in report["results"]] == ["classifier", "expansion"]
    for row in report["results"]:
        assert row["ceiling_img_s"] > 0 and row["pipeline_img_s"] > 0
        assert row["ratio"] == row["pipeline_img_s"] / row["ceiling_img_s"]
    rates = {r["task"]: r["pipeline_img_s"] for r in report["results"]}
    expected = 50 * 396_416 / rates["classifier"] + 50 * 396_416 / rates["expansion"]
    assert report["paper_scale_estimate_s"] == expected
