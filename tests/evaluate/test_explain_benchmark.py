"""benchmarks/explain.py runs end to end at a tiny size and prints consistent numbers."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "explain.py"


def _value(printed: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s*:\s*([0-9.]+)", printed, flags=re.M)
    assert match, f"{label!r} missing from:\n{printed}"
    return float(match.group(1))


def test_explain_benchmark_tiny(capsys):
    spec = importlib.util.spec_from_file_location("hrcam_bench_explain", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--arch", "densenet_compact", "--image-size", "32", "--batch-size", "2"]
    argv += ["--repeats", "1", "--num-classes", "3", "--threads", "1"]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    forward = _value(printed, "classifier forward")
    refined = _value(printed, "refined CAM")
    assert forward > 0 and refined > 0
    # One repeat: the printed ratio is refined / forward, up to the 0.1 ms print rounding.
    estimate = refined / forward
    slack = estimate * (0.05 / forward + 0.05 / refined) + 0.005
    assert abs(_value(printed, "ratio") - estimate) <= slack
    assert _value(printed, "expansion alone") > 0
    assert _value(printed, "post-processing") > 0
    assert "textbook path" in printed
