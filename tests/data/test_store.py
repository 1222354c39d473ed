"""The store format: writer, metadata, memory-mapped dataset, batched reads, DataLoader."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from hrcam.data.store import StoreDataset, StoreWriter, boxes_from_masks, open_store


def _make_store(root, counts=(5, 3, 0, 4), size=8, masks=True):
    rng = np.random.default_rng(0)
    w = StoreWriter(root, size, ["a", "b", "c"], has_masks=masks, source={"dataset": "t"})
    all_imgs, all_lab, all_masks = [], [], []
    for i, n in enumerate(counts):
        imgs = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        lab = rng.integers(0, 3, n)
        m = (rng.random((n, size, size)) > 0.7).astype(np.uint8)
        w.write_shard("train", i, imgs, lab, masks=m if masks else None)
        all_imgs.append(imgs), all_lab.append(lab), all_masks.append(m)
    info = w.finalize({"train": len(counts)})
    return info, np.concatenate(all_imgs), np.concatenate(all_lab), np.concatenate(all_masks)


def test_roundtrip_values_and_metadata(tmp_path):
    _, imgs, labels, masks = _make_store(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["format"] == "hrcam-store" and meta["version"] == 1
    assert meta["splits"]["train"]["count"] == 12
    # the empty shard is left out of the index
    assert [s["name"] for s in meta["splits"]["train"]["shards"]] == ["00000", "00001", "00003"]
    ds = StoreDataset(tmp_path, "train")
    assert len(ds) == 12 and ds.classes == ["a", "b", "c"] and ds.image_size == 8
    assert ds.has_masks
    for i in (0, 4, 5, 7, 8, 11, -1):
        s = ds[i]
        j = i % 12
        assert s["image"].dtype == torch.uint8 and s["image"].shape == (3, 8, 8)
        assert torch.equal(s["image"], torch.from_numpy(imgs[j]).permute(2, 0, 1))
        assert s["label"] == labels[j] and s["index"] == j
        assert torch.equal(s["mask"], torch.from_numpy(masks[j]))
        assert s["box"].tolist() == boxes_from_masks(masks[j : j + 1])[0].tolist()


def test_getitems_matches_getitem_in_any_order(tmp_path):
    _make_store(tmp_path)
    ds = StoreDataset(tmp_path, "train")
    order = [11, 0, 6, 5, 2, 9, 6]
    batch = ds.__getitems__(order)
    for k, s in zip(order, batch, strict=True):
        single = ds[k]
        assert torch.equal(s["image"], single["image"]) and s["label"] == single["label"]
        assert torch.equal(s["mask"], single["mask"]) and s["index"] == k


def test_dataloader_with_default_collate_stacks_batches(tmp_path):
    _, _, labels, _ = _make_store(tmp_path)
    ds = StoreDataset(tmp_path, "train")
    loader = torch.utils.data.DataLoader(ds, batch_size=5, shuffle=False)
    batches = list(loader)
    assert [b["image"].shape[0] for b in batches] == [5, 5, 2]
    assert batches[0]["image"].shape == (5, 3, 8, 8) and batches[0]["mask"].shape == (5, 8, 8)
    got = torch.cat([b["label"] for b in batches]).numpy()
    assert np.array_equal(got, labels)
    assert batches[0]["box"].dtype == torch.int64


def test_dataset_pickles_without_open_memmaps(tmp_path):
    _make_store(tmp_path)
    ds = StoreDataset(tmp_path, "train")
    _ = ds[0]  # opens the memory maps
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._arrays is None and torch.equal(clone[3]["image"], ds[3]["image"])


def test_store_without_masks_has_no_mask_keys(tmp_path):
    _make_store(tmp_path, masks=False)
    s = StoreDataset(tmp_path, "train")[0]
    assert "mask" not in s and "box" not in s
    assert not (tmp_path / "train" / "masks-00000.npy").exists()


def test_boxes_from_masks_against_brute_force():
    rng = np.random.default_rng(1)
    masks = np.zeros((20, 9, 11), np.uint8)
    for m in masks[1:]:
        y0, x0 = rng.integers(0, 8), rng.integers(0, 10)
        m[y0 : y0 + rng.integers(1, 4), x0 : x0 + rng.integers(1, 4)] = 1
    boxes = boxes_from_masks(masks)
    assert boxes[0].tolist() == [0, 0, 0, 0]
    for m, b in zip(masks[1:], boxes[1:], strict=True):
        ys, xs = np.nonzero(m)
        assert b.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no meta\.json"):
        open_store(tmp_path)
    _make_store(tmp_path)
    with pytest.raises(ValueError, match="split 'test'"):
        StoreDataset(tmp_path, "test")
    ds = StoreDataset(tmp_path, "train")
    with pytest.raises(IndexError):
        ds[12]
    w = StoreWriter(tmp_path / "x", 8, ["a"], has_masks=True)
    with pytest.raises(ValueError, match="images must be uint8"):
        w.write_shard("train", 0, np.zeros((2, 8, 8, 3), np.float32), [0, 0], np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="labels must lie"):
        w.write_shard("train", 0, np.zeros((1, 8, 8, 3), np.uint8), [3], np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match="pass masks"):
        w.write_shard("train", 0, np.zeros((1, 8, 8, 3), np.uint8), [0])
    with pytest.raises(RuntimeError, match="not written"):
        w.finalize({"train": 1})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "meta.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="format"):
        open_store(tmp_path / "bad")
