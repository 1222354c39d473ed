"""benchmarks/gpu_check.sh: steps run, log and are counted; ONLY selects steps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


def _run(tmp_path: Path, only: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    env = {**os.environ, "QUICK": "1", "ONLY": only, "OUT": str(tmp_path), "PYTHON": python}
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600
    )


def test_selected_steps_run_and_log(tmp_path):
    done = _run(tmp_path, "device data")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == ["data.txt", "device.txt"]
    assert "0 step(s) failed" in done.stdout


def test_failures_are_counted_not_fatal(tmp_path):
    done = _run(tmp_path, "device data", python=str(tmp_path / "no-such-python"))
    assert done.returncode == 2  # both steps failed, and the second still ran
    assert done.stdout.count("FAILED") == 2 and "2 step(s) failed" in done.stdout
