"""Latency of ``hrcam.postprocess.refine`` on 224×224 map pairs, on one thread.

Usage::

    python benchmarks/postprocess.py [--pairs 200] [--preset paper reference]

Prints, per preset, the median wall time of one ``refine`` call over ``--pairs`` synthetic
pairs (7×7 low-res, 224×224 high-res; see ``hrcam.postprocess.synthetic``), the median CPU
time and the minimum of each, and each step's share of the summed step medians. The target
is <= 2 ms per pair on one core (issue #16).

Wall times include whatever else the machine runs; the median CPU time of the calling thread,
printed beside it, is the steadier figure on a shared machine (check the load average).
"""

from __future__ import annotations

import os

# One thread everywhere; these must be set before numpy/scipy load their thread pools.
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from hrcam.postprocess import PRESETS, refine  # noqa: E402
from hrcam.postprocess.synthetic import synthetic_pair  # noqa: E402

#: Issue #16's goal for one 224×224 pair on one thread.
TARGET_S = 0.002


def bench(
    pairs: list[tuple[np.ndarray, np.ndarray]], preset: str
) -> tuple[list[float], list[float], dict[str, float]]:
    """Wall and CPU seconds of each ``refine`` call, and the median seconds of each step.

    "validation+other" is the part of a call outside the timed steps (input checks, config,
    building the result).
    """
    for low, high in pairs[:10]:  # warm-up: caches, lazy imports
        refine(low, high, preset)
    walls, cpus, steps = [], [], {}
    for low, high in pairs:
        c0, t0 = time.thread_time(), time.perf_counter()
        res = refine(low, high, preset)
        wall = time.perf_counter() - t0
        walls.append(wall)
        cpus.append(time.thread_time() - c0)
        for name, sec in res.timings.items():
            steps.setdefault(name, []).append(sec)
        steps.setdefault("validation+other", []).append(wall - sum(res.timings.values()))
    medians = {k: float(np.median(v)) for k, v in steps.items()}
    return walls, cpus, medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="number of map pairs (>= 1)")
    parser.add_argument("--preset", nargs="+", default=sorted(PRESETS), choices=sorted(PRESETS))
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    cv2.setNumThreads(1)  # OpenCV runs the box filter, region growing and hole labelling

    pairs = [synthetic_pair(seed)[:2] for seed in range(args.pairs)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{args.pairs} pairs of 7x7 / 224x224 maps, 1 thread, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f} (wall times grow with load)"
    )
    for preset in args.preset:
        walls, cpus, steps = bench(pairs, preset)
        total, cpu = float(np.median(walls)), float(np.median(cpus))
        step_sum = sum(steps.values())
        verdict = "OK" if total <= TARGET_S else f"over the {TARGET_S * 1e3:g} ms target"
        print(
            f"\npreset {preset!r}: median {total * 1e3:.2f} ms per pair ({verdict}); "
            f"median CPU time {cpu * 1e3:.2f} ms; minimum {min(walls) * 1e3:.2f} ms wall, "
            f"{min(cpus) * 1e3:.2f} ms CPU"
        )
        for name, sec in sorted(steps.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<15} {sec * 1e3:6.3f} ms  {100 * sec / step_sum:5.1f} %")


if __name__ == "__main__":
    main()
