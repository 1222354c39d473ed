"""Post-processing throughput on 1 and N processes, against the networks' throughput.

Usage::

    python benchmarks/refine_workers.py [--maps 96] [--workers N] [--arch densenet121]

Prints, measured in one run on this machine:

* maps/s of ``hrcam.postprocess.refine`` in this process (1 worker) and through
  :class:`hrcam.parallel.RefinePool` with N workers (default: every available core), with the
  speed-up; the pool's results are checked equal to the serial ones;
* the networks' img/s (classifier + expansion network, ``reconstruct=False``, channels_last,
  no autograd) at the same size, and how many post-processing workers would keep up with them.

On a CPU-only machine the networks and the workers share the same cores, so the last line
also states what the measured per-worker rate predicts for a GPU, whose networks run at the
rate given by ``--gpu-img-per-s`` (default: 4,800 img/s, half the 9,565 img/s that one H200
measured for DenseNet-121 inference in bf16 + channels_last, since the expansion network
costs about as much as the classifier).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import numpy as np


def _maps(n: int, size: int, low: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from hrcam.postprocess.synthetic import synthetic_pair

    pairs = [synthetic_pair(seed=i, shape=(size, size), low_shape=(low, low)) for i in range(n)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _rate(fn, count: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def _network_rate(arch: str, size: int, batch: int, repeats: int) -> float:
    import torch

    from hrcam.models import HRCAM, build_classifier, build_expansion

    torch.manual_seed(0)
    clf = build_classifier(arch, num_classes=10)
    model = HRCAM(clf, build_expansion(clf, image_size=size)).eval()
    model = model.to(memory_format=torch.channels_last)
    x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last)

    def run() -> None:
        with torch.inference_mode():
            model(x, reconstruct=False)

    run()  # warm-up
    return _rate(run, batch, repeats)


def main() -> None:
    from hrcam.parallel import RefinePool, available_cores
    from hrcam.postprocess import refine, resolve_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", type=int, default=96, help="map pairs per timing (96)")
    parser.add_argument("--workers", type=int, default=None, help="N (default: all cores)")
    parser.add_argument("--size", type=int, default=224, help="image side (224)")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--arch", default="densenet121", help="backbone for the networks' rate")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu-img-per-s", type=float, default=4800.0)
    args = parser.parse_args()

    workers = args.workers or available_cores()
    low_side = args.size // 32 if args.arch != "densenet_compact" else args.size // 8
    lows, highs = _maps(args.maps, args.size, low_side)
    config = resolve_config(args.preset)
    print(
        f"{platform.processor() or platform.machine()}, {available_cores()} cores available, "
        f"torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}"
    )
    print(
        f"{args.maps} pairs of {args.size}x{args.size} (low-res {low_side}x{low_side}), "
        f"preset {args.preset}, best of {args.repeats}"
    )

    serial: list = []
    one = _rate(
        lambda: serial.__setitem__(
            slice(None), [refine(lo, hi, config=config) for lo, hi in zip(lows, highs, strict=True)]
        ),
        args.maps,
        args.repeats,
    )
    with RefinePool(workers) as pool:
        pool.refine(lows[:workers], highs[:workers], config)  # start the workers
        got: list = []
        many = _rate(
            lambda: got.__setitem__(slice(None), pool.refine(lows, highs, config)),
            args.maps,
            args.repeats,
        )
    for a, b in zip(serial, got, strict=True):
        for f in dataclasses.fields(a):
            if f.name != "timings":
                x, y = getattr(a, f.name), getattr(b, f.name)
                same = np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
                assert same, f"pool result differs from serial in {f.name}"
    print(f"refine, 1 worker      : {one:8.1f} maps/s")
    print(
        f"refine, {workers} workers     : {many:8.1f} maps/s  ({many / one:.2f}x, "
        "results identical)"
    )

    nets = _network_rate(args.arch, args.size, args.batch_size, args.repeats)
    print(
        f"networks ({args.arch}) : {nets:8.1f} img/s  (classifier + expansion, batch "
        f"{args.batch_size}, channels_last)"
    )
    print(
        f"post-processing / networks, {workers} workers: {many / nets:.2f}x "
        "(>= 1: refine keeps up with the networks on this machine)"
    )
    need = args.gpu_img_per_s / one
    print(
        f"GPU prediction: networks at {args.gpu_img_per_s:,.0f} img/s need about {need:.0f} "
        f"post-processing cores at the measured {one:.0f} maps/s per core"
    )


if __name__ == "__main__":
    main()
