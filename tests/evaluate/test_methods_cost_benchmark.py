"""benchmarks/methods_cost.py runs end to end at a tiny size and prints every ratio."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "methods_cost.py"


def test_methods_cost_benchmark_tiny(capsys):
    spec = importlib.util.spec_from_file_location("hrcam_bench_methods_cost", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--arch", "densenet_compact", "--sizes", "32", "64", "--batch-size", "1",
            "--repeats", "2", "--threads", "1", "--methods", "cam_jbu", "gradcam"]  # fmt: skip
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    rows = re.findall(r"^  (\w+)\s+([0-9.]+) ms\s+([0-9.]+)x$", printed, flags=re.M)
    assert [r[0] for r in rows] == ["low_res_cam", "cam_jbu", "gradcam"] * 2
    assert all(float(ms) > 0 for _, ms, _ in rows)
    # The low-res CAM is its own reference: ratio 1 in every table.
    assert [float(r[2]) for r in rows if r[0] == "low_res_cam"] == [1.0, 1.0]
    assert re.search(r"^  cam_jbu\s+a =\s+-?[0-9.]+$", printed, flags=re.M)
    assert "cam_jbu / low_res_cam at 224 px" not in printed  # 224 px was not measured
