"""Every method's cost as a ratio to the low-res CAM's, forward pass included, side by side.

Usage::

    python benchmarks/methods_cost.py [--arch lite0] [--sizes 96 224 448] [--batch-size 2]
                                      [--repeats 3] [--threads 1 0] [--methods M ...]
                                      [--skip scorecam sess]

Each method is built from the registry (:func:`hrcam.methods.build_methods`) on one model, the
book's real-photo classifier by default (EfficientNet-Lite0, ``--arch lite0``; ``--arch
densenet_compact`` etc. for hrcam's own), with an expansion network and a learned JBU
(``featup_jbu``, which upsamples the one-channel CAM) of random weights: the high-res and
refined CAMs and the learned JBU cost the same whatever the weights. Every method is called
exactly as the evaluation calls it, ``method(images01, targets)``: its own forward pass (and
backward pass, for the gradient methods) included, maps at image resolution on the CPU.

For each image size and thread count (``--threads``: 0 means every core this process may use)
the methods are timed alternately, ``--repeats`` times each after one untimed warm-up, on the
same random batch and the classes the classifier predicts for it, so that load from other
processes on a shared machine hits them all alike. It prints, per method, the median ms per
image and its ratio to the low-res CAM (the median of the per-repeat ratios), then how each
method's cost grows with image size (the exponent ``a`` of ``ms ∝ pixels^a`` between the
smallest and largest size), and the line ``cam_jbu / low_res_cam at 224 px, N thread(s):
X.XXx`` for each thread count.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from typing import Any

DEFAULT_SKIP = ("scorecam", "sess")
"""Left out unless named: Score-CAM and SESS cost hundreds of forward passes per image (minutes
at 448 px on a CPU)."""


def _model(arch: str, size: int) -> Any:
    import torch

    from hrcam.models import HRCAM, build_classifier, build_expansion

    torch.manual_seed(0)
    if arch == "lite0":
        from hrcam.models.lite0 import efficientnet_lite0

        clf = efficientnet_lite0()
    else:
        clf = build_classifier(arch, num_classes=10)
    model = HRCAM(clf, build_expansion(clf, image_size=size)).eval()
    # The learned JBU (featup_jbu) with random weights, marked trained: its cost is that of a
    # trained one (it upsamples the one-channel CAM, not the features).
    from hrcam.models.jbu import build_upsampler, with_upsampler

    upsampler = build_upsampler(clf)
    upsampler.trained.fill_(True)
    return with_upsampler(model, upsampler).eval()


def _time_methods(
    methods: dict[str, Any], images: Any, targets: list[int], repeats: int
) -> dict[str, list[float]]:
    """Seconds per call of each method, ``repeats`` alternating rounds after a warm-up."""
    for m in methods.values():
        m(images, targets)
    times: dict[str, list[float]] = {n: [] for n in methods}
    for _ in range(repeats):
        for name, m in methods.items():
            t0 = time.perf_counter()
            m(images, targets)
            times[name].append(time.perf_counter() - t0)
    return times


def measure(
    arch: str,
    size: int,
    names: list[str],
    batch_size: int,
    repeats: int,
) -> dict[str, dict[str, float]]:
    """``{method: {"ms": median ms per image, "ratio": median ratio to low_res_cam}}``."""
    import torch

    from hrcam.methods import build_methods, pixel_space_model

    model = _model(arch, size)
    methods = {}
    for name in ["low_res_cam", *[n for n in names if n != "low_res_cam"]]:
        try:
            methods.update(build_methods(model, [name]))
        except ValueError as exc:  # e.g. the stage baselines on a wrapped model
            print(f"  not run: {name}: {exc}")
    images = torch.rand(batch_size, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        targets = pixel_space_model(model.classifier)(images).argmax(1).tolist()
    times = _time_methods(methods, images, targets, repeats)
    base = times["low_res_cam"]
    return {
        name: {
            "ms": 1000.0 * statistics.median(t) / batch_size,
            "ratio": statistics.median(a / b for a, b in zip(t, base, strict=True)),
        }
        for name, t in times.items()
    }


def _threads(requested: int) -> int:
    if requested > 0:
        return requested
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="lite0")
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 224, 448])
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 0])
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--skip", nargs="+", default=list(DEFAULT_SKIP))
    args = parser.parse_args(argv)

    import torch

    from hrcam.methods.registry import runnable_method_names

    names = args.methods or [n for n in runnable_method_names() if n not in args.skip]
    print(f"{args.arch}, batch {args.batch_size}, {args.repeats} repeats; "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}")  # fmt: skip
    results: dict[tuple[int, int], dict[str, dict[str, float]]] = {}
    for requested in args.threads:
        threads = _threads(requested)
        torch.set_num_threads(threads)
        for size in args.sizes:
            row = measure(args.arch, size, names, args.batch_size, args.repeats)
            results[threads, size] = row
            print(f"\n{size} px, {threads} thread(s): ms/image, ratio to low_res_cam")
            for name, r in row.items():
                print(f"  {name:<18} {r['ms']:9.1f} ms  {r['ratio']:8.2f}x")
    sizes = sorted(args.sizes)
    for threads in sorted({t for t, _ in results}):
        if len(sizes) > 1:
            lo, hi = sizes[0], sizes[-1]
            print(f"\ngrowth with image size, {threads} thread(s): ms ∝ pixels^a, {lo}->{hi} px")
            for name in results[threads, lo]:
                a = math.log(results[threads, hi][name]["ms"] / results[threads, lo][name]["ms"])
                a /= math.log((hi / lo) ** 2)
                print(f"  {name:<18} a = {a:5.2f}")
    for threads, size in results:
        if size == 224 and "cam_jbu" in results[threads, size]:
            ratio = results[threads, size]["cam_jbu"]["ratio"]
            print(f"cam_jbu / low_res_cam at 224 px, {threads} thread(s): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
