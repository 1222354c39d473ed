"""hrcam.parallel: post-processing on several processes gives the same results, in order."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hrcam.parallel import RefinePool, available_cores, resolve_workers
from hrcam.postprocess import refine, resolve_config
from hrcam.postprocess.synthetic import synthetic_pair


def _same(a, b) -> None:
    for f in dataclasses.fields(a):
        if f.name == "timings":  # wall-clock measurements, different on every run
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), f.name
        else:
            assert x == y, f.name


@pytest.mark.parametrize("preset", ["paper", "reference"])
def test_pool_results_equal_serial_and_keep_order(preset):
    pairs = [synthetic_pair(seed=i, shape=(64, 64), low_shape=(4, 4))[:2] for i in range(11)]
    config = resolve_config(preset)
    serial = [refine(low, high, config=config) for low, high in pairs]
    with RefinePool(workers=3) as pool:
        got = pool.refine([p[0] for p in pairs], [p[1] for p in pairs], config)
    assert len(got) == len(serial)
    for a, b in zip(serial, got, strict=True):
        _same(a, b)


def test_one_worker_and_single_pairs_run_in_process():
    low, high, _ = synthetic_pair(seed=0, shape=(32, 32), low_shape=(4, 4))
    config = resolve_config("paper")
    pool = RefinePool(workers=4)
    pending = pool.submit([low], [high], config)
    assert pending.results is not None and not pending.futures
    assert pool._pool is None  # no processes started for one map
    assert RefinePool(workers=1).refine([low] * 3, [high] * 3, config)[2].refined.shape == (32, 32)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_worker_counts_are_refused(bad):
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        resolve_workers(bad)
    cores = available_cores()
    assert resolve_workers(None) == (cores if cores > 2 else 1)  # see its docstring
    assert resolve_workers(3) == 3


@pytest.mark.slow
def test_explainer_with_workers_equals_one_worker():
    import torch

    from hrcam.explain import Explainer
    from hrcam.models import HRCAM, build_classifier, build_expansion

    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    model = HRCAM(clf, build_expansion(clf, image_size=32)).eval()
    images = torch.randint(0, 255, (6, 3, 32, 32), dtype=torch.uint8)
    one = Explainer(model, workers=1, batch_size=4).explain(images)
    two = Explainer(model, workers=2, batch_size=4).explain(images)
    for a, b in zip(one, two, strict=True):
        assert (a.label, a.probability) == (b.label, b.probability)
        _same(a.refinement, b.refinement)


@pytest.mark.slow
def test_pool_after_opencv_and_itk_ran_here_does_not_hang():
    """Forked workers hung on OpenCV's inherited thread pool; spawned ones start clean."""
    import concurrent.futures

    pairs = [synthetic_pair(seed=i, shape=(64, 64), low_shape=(4, 4))[:2] for i in range(4)]
    config = resolve_config("paper")
    serial = [refine(low, high, config=config) for low, high in pairs]  # warms cv2 and ITK
    with RefinePool(workers=2) as pool:
        pending = pool.submit([p[0] for p in pairs], [p[1] for p in pairs], config)
        done, _ = concurrent.futures.wait(pending.futures, timeout=120)
        assert len(done) == len(pending.futures), "workers hung"
        for a, b in zip(serial, pool.gather(pending), strict=True):
            _same(a, b)


@pytest.mark.slow
def test_dead_workers_fall_back_to_this_process_with_one_warning():
    import os
    import signal

    pairs = [synthetic_pair(seed=i, shape=(48, 48), low_shape=(4, 4))[:2] for i in range(4)]
    lows, highs = [p[0] for p in pairs], [p[1] for p in pairs]
    config = resolve_config("reference")
    serial = [refine(low, high, config=config) for low, high in pairs]
    pool = RefinePool(workers=2)
    pool.refine(lows, highs, config)  # start the workers
    for pid in list(pool._pool._processes):
        os.kill(pid, signal.SIGKILL)
    with pytest.warns(RuntimeWarning, match="refining in this process"):
        got = pool.refine(lows, highs, config)
    for a, b in zip(serial, got, strict=True):
        _same(a, b)
    again = pool.refine(lows, highs, config)  # no second warning, still right
    _same(serial[0], again[0])
    pool.close()
