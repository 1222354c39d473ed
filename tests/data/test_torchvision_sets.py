"""Oxford-IIIT Pet and Imagenette/Imagewoof through torchvision, on fixture trees (no network)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hrcam.data.store import StoreDataset
from hrcam.data.torchvision_sets import build_imagenette, build_pets


def _pets_tree(root, write_jpeg):
    base = root / "oxford-iiit-pet"
    rows = {
        "trainval": [("Abyssinian_1", 1, 1), ("beagle_1", 2, 2), ("beagle_2", 2, 2)],
        "test": [("Abyssinian_2", 1, 1), ("beagle_3", 2, 2)],
    }
    (base / "annotations" / "trimaps").mkdir(parents=True)
    for split, items in rows.items():
        lines = [f"{name} {cls} {species} 1" for name, cls, species in items]
        (base / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
        for k, (name, _, _) in enumerate(items):
            write_jpeg(base / "images" / f"{name}.jpg", seed=k, size=(40, 40))
            tri = np.full((40, 40), 2, np.uint8)  # background
            tri[10:30, 8:28] = 3  # border ring
            tri[12:28, 10:26] = 1  # pet
            Image.fromarray(tri).save(base / "annotations" / "trimaps" / f"{name}.png")
    # a corrupt image inside the real layout
    (base / "images" / "beagle_2.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return base


def test_pets_trimaps_become_masks(tmp_path, data_helpers):
    _pets_tree(tmp_path / "pets", data_helpers.write_jpeg)
    rep = build_pets(
        tmp_path / "pets", tmp_path / "out", image_size=20, num_workers=0, progress=False
    )
    assert rep.counts == {"train": 2, "val": 2}
    assert len(rep.errors) == 1 and rep.errors[0][0].endswith("beagle_2.jpg")
    ds = StoreDataset(tmp_path / "out", "train")
    assert ds.classes == ["Abyssinian", "Beagle"] and ds.has_masks
    s = ds[0]
    # pet + border (trimap 1 or 3) = rows 10..29, cols 8..27 at 40 px -> 5..14, 4..13 at 20 px
    ys, xs = np.nonzero(s["mask"].numpy())
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (5, 14, 4, 13)
    assert s["box"].tolist() == [4, 5, 14, 15]
    assert StoreDataset(tmp_path / "out", "val").labels.tolist() == [0, 1]


def test_pets_wrong_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="oxford-iiit-pet"):
        build_pets(tmp_path, tmp_path / "out", progress=False)


@pytest.mark.parametrize(
    ("variant", "folder", "wnids", "first_name"),
    [
        ("imagenette", "imagenette2-160", ["n01440764", "n02102040"], "tench"),
        ("imagewoof", "imagewoof2-160", ["n02086240", "n02087394"], "Shih-Tzu"),
    ],
)
def test_imagenette_and_imagewoof(tmp_path, data_helpers, variant, folder, wnids, first_name):
    for split, n in (("train", 3), ("val", 1)):
        for c, wnid in enumerate(wnids):
            for k in range(n):
                data_helpers.write_jpeg(
                    tmp_path / "src" / folder / split / wnid / f"{wnid}_{k}.JPEG", seed=c * 10 + k
                )
    (tmp_path / "src" / folder / "train" / wnids[0] / "empty.JPEG").write_bytes(b"")
    rep = build_imagenette(
        tmp_path / "src",
        tmp_path / "out",
        variant=variant,
        size="160px",
        image_size=16,
        num_workers=0,
        progress=False,
    )
    assert rep.counts == {"train": 6, "val": 2} and len(rep.errors) == 1
    ds = StoreDataset(tmp_path / "out", "train")
    assert ds.classes[0] == first_name and len(ds.classes) == 2
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_imagenette_wrong_root_and_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="imagenette2-320"):
        build_imagenette(tmp_path, tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="variant"):
        build_imagenette(tmp_path, tmp_path / "out", variant="imagewolf")
