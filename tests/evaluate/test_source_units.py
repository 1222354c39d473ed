"""Stores that record each image's source stamp: the evaluator resamples stamps there."""

from __future__ import annotations

import numpy as np
import pytest

from hrcam.data.store import StoreDataset, StoreWriter, shard_extras
from hrcam.evaluate.running import source_units
from hrcam.studies.cutouts import cutout_units


def _store(tmp_path, sources_per_shard):
    writer = StoreWriter(tmp_path / "s", image_size=8, classes=["a", "b"], has_masks=True)
    for k, sources in enumerate(sources_per_shard):
        n = len(sources)
        masks = np.zeros((n, 8, 8), np.uint8)
        masks[:, 2:5, 2:5] = 1
        extra = None if sources is None else {"sources": sources}
        writer.write_shard("val", k, np.zeros((n, 8, 8, 3), np.uint8), np.zeros(n, np.int64),
                           masks, extra=extra)  # fmt: skip
    writer.finalize()
    return tmp_path / "s"


def test_sources_are_read_per_image_in_shard_order(tmp_path):
    root = _store(tmp_path, [[["cat.png", "beach.jpg", "x"], ["dog.png", "sky.jpg"]],
                             [["cat.png", "sky.jpg"]]])  # fmt: skip
    assert [s[0] for s in shard_extras(root, "val", "sources")] == ["cat.png", "dog.png",
                                                                    "cat.png"]  # fmt: skip
    units = cutout_units(root, "val")
    assert units["stamps"] == {0: "cat.png", 1: "dog.png", 2: "cat.png"}
    assert units["backgrounds"] == {0: "beach.jpg", 1: "sky.jpg", 2: "sky.jpg"}
    assert source_units(StoreDataset(root, "val"), 2) == {0: "cat.png", 1: "dog.png"}


def test_a_store_without_sources_resamples_images(tmp_path):
    writer = StoreWriter(tmp_path / "s", image_size=8, classes=["a"], has_masks=True)
    writer.write_shard("val", 0, np.zeros((2, 8, 8, 3), np.uint8), np.zeros(2, np.int64),
                       np.ones((2, 8, 8), np.uint8))  # fmt: skip
    writer.finalize()
    assert source_units(StoreDataset(tmp_path / "s", "val"), 2) is None
    with pytest.raises(KeyError, match="records no 'sources'"):
        shard_extras(tmp_path / "s", "val", "sources")
