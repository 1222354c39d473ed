"""Constructed CAM sets for the evidence tests (the tiny HRCAM run is in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


def make_constructed(n: int = 12, size: int = 64, seed: int = 0) -> Any:
    """Elliptic objects with thin 'legs'; the low-res CAM is a coarse 8x8 blob on the object."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] + 0.5
    masks, lows, imgs = [], [], []
    for _ in range(n):
        cy, cx = rng.uniform(20, 44, size=2)
        a, b = rng.uniform(8, 14), rng.uniform(5, 8)
        m = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1
        m |= (np.abs(x - cx) < 1.0) & (np.abs(y - cy) < b + 10)  # a thin vertical part
        masks.append(m)
        gy, gx = (np.mgrid[0:8, 0:8] + 0.5) * (size / 8)
        lows.append(np.exp(-(((gx - cx) / 12) ** 2 + ((gy - cy) / 12) ** 2)).astype(np.float32))
        img = rng.integers(0, 255, size=(size, size, 3)).astype(np.uint8)
        img[m] = 200
        imgs.append(img)
    masks = np.stack(masks)
    from hrcam.data.store import boxes_from_masks
    from hrcam.methods import CamSet

    return CamSet(
        index=np.arange(n),
        images=np.stack(imgs),
        masks=masks,
        boxes=boxes_from_masks(masks.astype(np.uint8)),
        labels=np.zeros(n, np.int64),
        targets=np.zeros(n, np.int64),
        low_res=np.stack(lows),
        high_res=rng.random((n, size, size)).astype(np.float32),
    )


@pytest.fixture
def constructed():
    """Factory of constructed CamSets (see :func:`make_constructed`)."""
    return make_constructed
