"""ImageNet animals from tiny ILSVRC-2012 fixture trees, including every bad-input case."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrcam.data.imagenet import build_imagenet_animals, imagenet_animal_classes
from hrcam.data.store import StoreDataset

CLASSES = imagenet_animal_classes()
W0, W1, W2 = CLASSES[0][0], CLASSES[1][0], CLASSES[5][0]  # tench, goldfish, ...
NON_ANIMAL = "n04592741"  # wing: not among the 398


def _tree(h, root, flat_val=False):
    write_jpeg, write_bad_files = h.write_jpeg, h.write_bad_files
    for k in range(3):
        write_jpeg(root / "train" / W0 / f"{W0}_{k}.JPEG", seed=k)
        write_jpeg(root / "train" / W1 / f"{W1}_{k}.JPEG", seed=10 + k)
    write_jpeg(root / "train" / NON_ANIMAL / "x.JPEG")
    (root / "train" / W2).mkdir()  # empty class folder
    write_bad_files(root / "train" / W0)  # bad and awkward files inside a class folder
    if flat_val:
        for k in range(1, 5):
            write_jpeg(root / "val" / f"ILSVRC2012_val_{k:08d}.JPEG", seed=20 + k)
    else:
        write_jpeg(root / "val" / W1 / "v.JPEG", seed=30)


def test_foldered_tree_with_bad_files(tmp_path, data_helpers):
    _tree(data_helpers, tmp_path / "in")
    rep = build_imagenet_animals(
        tmp_path / "in", tmp_path / "out", image_size=32, num_workers=0, progress=False
    )
    assert rep.counts == {"train": 6 + len(data_helpers.CONVERTIBLE), "val": 1}
    bad = {p.split("/")[-1] for p, _ in rep.errors}
    assert len(rep.errors) == len(data_helpers.UNREADABLE)
    assert bad == {"zero.JPEG", "notes.JPEG", "truncated.JPEG", "corrupt.JPEG"}
    assert all(reason for _, reason in rep.errors)
    text = "\n".join(rep.warnings)
    assert "395 of 398 animal class folders missing" in text  # W0, W1, W2 present
    assert f"class folder {W2} has no image files" in text
    errors_tsv = (tmp_path / "out" / "errors.tsv").read_text().splitlines()
    assert len(errors_tsv) == 1 + len(data_helpers.UNREADABLE)
    ds = StoreDataset(tmp_path / "out", "train")
    assert len(ds.classes) == 398 and ds.classes[0] == "tench" and ds.image_size == 32
    assert sorted(set(ds.labels.tolist())) == [0, 1]  # the non-animal class is dropped
    assert ds[0]["image"].shape == (3, 32, 32)
    assert "unreadable files skipped: 4" in rep.summary()


def test_parallel_build_equals_serial_and_resumes(tmp_path, data_helpers):
    _tree(data_helpers, tmp_path / "in")
    kw = {"image_size": 24, "shard_size": 4, "progress": False}
    build_imagenet_animals(tmp_path / "in", tmp_path / "a", num_workers=0, **kw)
    build_imagenet_animals(tmp_path / "in", tmp_path / "b", num_workers=2, **kw)
    a, b = StoreDataset(tmp_path / "a"), StoreDataset(tmp_path / "b")
    assert np.array_equal(
        a.read_arrays(range(len(a)))["images"], b.read_arrays(range(len(b)))["images"]
    )
    # interrupt: lose shard 1 (files and marker), then re-run
    for f in (tmp_path / "a" / "train").glob("*-00001.*"):
        f.unlink()
    rep = build_imagenet_animals(tmp_path / "in", tmp_path / "a", num_workers=0, **kw)
    assert rep.resumed_shards >= 2
    a2 = StoreDataset(tmp_path / "a")
    assert np.array_equal(
        a2.read_arrays(range(len(a2)))["images"], b.read_arrays(range(len(b)))["images"]
    )
    with pytest.raises(ValueError, match="different build"):
        build_imagenet_animals(tmp_path / "in", tmp_path / "a", image_size=16, progress=False)


def _devkit(root, ids):
    from scipy.io import savemat

    data = root / "ILSVRC2012_devkit_t12" / "data"
    data.mkdir(parents=True)
    # IDs are deliberately NOT in sorted-wnid order, as in the real meta.mat
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    syn = np.array(
        [
            (2, W0, "tench", 0),
            (1, W1, "goldfish", 0),
            (3, NON_ANIMAL, "wing", 0),
            (1001, "n00000001", "entity", 3),
        ],
        dtype=dtype,
    )
    savemat(data / "meta.mat", {"synsets": syn.reshape(-1, 1)})
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(map(str, ids)) + "\n")


def test_flat_val_with_devkit(tmp_path, data_helpers):
    _tree(data_helpers, tmp_path / "in", flat_val=True)
    _devkit(tmp_path / "in", [2, 1, 3, 1])  # val 1: tench, 2: goldfish, 3: wing, 4: goldfish
    rep = build_imagenet_animals(
        tmp_path / "in",
        tmp_path / "out",
        image_size=16,
        splits=("val",),
        num_workers=0,
        progress=False,
    )
    ds = StoreDataset(tmp_path / "out", "val")
    assert rep.counts == {"val": 3}
    assert ds.labels.tolist() == [0, 1, 1]
    marker = json.loads((tmp_path / "out" / "val" / "shard-00000.json").read_text())
    assert marker["sources"] == [
        "val/ILSVRC2012_val_00000001.JPEG",
        "val/ILSVRC2012_val_00000002.JPEG",
        "val/ILSVRC2012_val_00000004.JPEG",
    ]


def test_flat_val_with_mapping_file(tmp_path, data_helpers):
    _tree(data_helpers, tmp_path / "in", flat_val=True)
    csv = tmp_path / "LOC_val_solution.csv"
    csv.write_text(
        "ImageId,PredictionString\n"
        f"ILSVRC2012_val_00000001,{W1} 1 2 3 4\n"
        f"ILSVRC2012_val_00000003,{W0} 1 2 3 4 {W1} 5 6 7 8\n"
    )
    rep = build_imagenet_animals(
        tmp_path / "in",
        tmp_path / "out",
        image_size=16,
        splits=("val",),
        val_labels=csv,
        num_workers=0,
        progress=False,
    )
    assert StoreDataset(tmp_path / "out", "val").labels.tolist() == [0, 1]
    assert any("2 files have no label" in w for w in rep.warnings)


def test_flat_val_without_labels_and_wrong_roots(tmp_path, data_helpers):
    _tree(data_helpers, tmp_path / "in", flat_val=True)
    with pytest.raises(ValueError, match="--devkit"):
        build_imagenet_animals(tmp_path / "in", tmp_path / "o", splits=("val",), progress=False)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        build_imagenet_animals(tmp_path / "nope", tmp_path / "o", progress=False)
    (tmp_path / "photos").mkdir()
    with pytest.raises(FileNotFoundError, match="ILSVRC-2012"):
        build_imagenet_animals(tmp_path / "photos", tmp_path / "o", progress=False)
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        build_imagenet_animals(tmp_path / "empty", tmp_path / "o", progress=False)
