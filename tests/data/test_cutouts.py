"""The cut-out builder on a tiny fixture tree of stamps and backgrounds (no Debian package)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hrcam.data import cutouts
from hrcam.data.store import StoreDataset
from hrcam.errors import HrcamError

CLASSED = [
    "animals/birds/hen.png",
    "animals/birds/tucan.png",
    "animals/insects/mantis.png",
    "animals/mammals/apes/gorilla.png",
]  # the classed stamps of the conftest's fixture tree


@pytest.fixture
def sources(cutout_sources):
    return cutout_sources


def _build(out, sources, **kw):
    stamps, backs = sources
    options = {"num_train": 12, "num_val": 10, "image_size": 48, "progress": False, **kw}
    return cutouts.build_cutouts(out, stamps=stamps, backgrounds=backs, **options)


def test_masks_are_the_pasted_alpha_exactly(sources):
    stamps, _ = sources
    stamp = np.asarray(Image.open(stamps / CLASSED[0]).convert("RGBA"))
    background = np.full((64, 64, 3), 40, np.uint8)
    image, mask = cutouts.composite(background, stamp, 5, 7)
    h, w = stamp.shape[:2]
    expected = np.zeros((64, 64), bool)
    expected[5 : 5 + h, 7 : 7 + w] = stamp[..., 3] > 127.5
    np.testing.assert_array_equal(mask, expected)
    # Fully opaque pixels are the stamp's, pixels outside it the background's.
    opaque = np.zeros((64, 64), bool)
    opaque[5 : 5 + h, 7 : 7 + w] = stamp[..., 3] == 255
    np.testing.assert_array_equal(image[opaque], stamp[..., :3][stamp[..., 3] == 255])
    assert (image[~np.pad(np.ones((h, w), bool), ((5, 64 - 5 - h), (7, 64 - 7 - w)))] == 40).all()
    # Feathering softens the blend only, never the mask.
    soft, soft_mask = cutouts.composite(background, stamp, 5, 7, feather=2.0)
    np.testing.assert_array_equal(soft_mask, expected)
    assert not np.array_equal(soft, image)


def test_store_masks_labels_and_disjoint_splits(sources, tmp_path):
    info = _build(tmp_path / "store", sources, objects_per_image=2)
    assert info.has_masks and info.image_size == 48 and info.num_classes == 398
    src = info.source
    assert not set(src["stamps"]["train"]) & set(src["stamps"]["val"])
    assert not set(src["backgrounds"]["train"]) & set(src["backgrounds"]["val"])
    classes = {s.file: s.imagenet for s in cutouts.stamp_list()}
    for split in ("train", "val"):
        ds = StoreDataset(info.root, split)
        batch = ds.get_batch(np.arange(len(ds)))
        assert batch["mask"].sum(dim=(1, 2)).min() > 0  # every image holds its object
        marker = json.loads((info.root / split / "shard-00000.json").read_text())
        for label, used in zip(batch["label"].tolist(), marker["sources"], strict=True):
            target, background = used[0], used[1]
            assert target in src["stamps"][split] and label == classes[target]
            assert background in src["backgrounds"][split]


def test_build_is_deterministic_and_resumes(sources, tmp_path):
    a = _build(tmp_path / "a", sources)
    b = _build(tmp_path / "b", sources)
    for name in ("images", "masks", "labels"):
        np.testing.assert_array_equal(
            np.load(a.root / "val" / f"{name}-00000.npy"),
            np.load(b.root / "val" / f"{name}-00000.npy"),
        )
    # An interrupted build (a shard's marker missing) is finished by the same command...
    (a.root / "val" / "shard-00000.json").unlink()
    (a.root / "meta.json").unlink()
    again = _build(tmp_path / "a", sources)
    np.testing.assert_array_equal(
        np.load(again.root / "val" / "images-00000.npy"),
        np.load(b.root / "val" / "images-00000.npy"),
    )
    # ...and another build in the same folder is refused, nothing overwritten.
    before = (a.root / "val" / "images-00000.npy").read_bytes()
    with pytest.raises(ValueError, match="holds a different build"):
        _build(tmp_path / "a", sources, seed=5)
    assert (a.root / "val" / "images-00000.npy").read_bytes() == before


def test_every_reviewed_class_is_an_animal_class():
    stamps = cutouts.stamp_list(include_drawings=True)
    assert len(stamps) == len({s.file for s in stamps}) >= 120
    assert {s.kind for s in stamps} == {"photo", "drawing"}
    assert all(s.imagenet is None or 0 <= s.imagenet < 398 for s in stamps)
    assert all(s.kind == "photo" for s in cutouts.stamp_list())
    assert sum(s.imagenet is not None for s in cutouts.stamp_list()) >= 50
    for b in cutouts.background_list():
        assert b.package in cutouts.BACKGROUND_PACKAGES and b.license


def test_missing_package_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(cutouts, "STAMPS_ROOT", tmp_path / "nowhere")
    with pytest.raises(HrcamError, match="apt-get install tuxpaint-stamps-default"):
        cutouts.build_cutouts(tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    assert "tuxpaint-stamps-default" in cutouts.missing_cutout_packages()


def test_bad_sources_and_options_are_refused(sources, tmp_path):
    stamps, backs = sources
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HrcamError, match="none of the reviewed stamps"):
        cutouts.build_cutouts(tmp_path / "o1", stamps=empty, backgrounds=backs)
    with pytest.raises(HrcamError, match="at least two image files"):
        cutouts.build_cutouts(tmp_path / "o2", stamps=stamps, backgrounds=empty)
    with pytest.raises(HrcamError, match="object_scale"):
        _build(tmp_path / "o3", sources, object_scale=(0.8, 0.2))
    # An unreadable stamp is skipped and recorded, not fatal.
    (stamps / CLASSED[1]).write_bytes(b"not a png")
    info = _build(tmp_path / "o4", sources)
    assert any(CLASSED[1] in path for path, _ in info.source["skipped"])


def test_cli_lists_the_options_and_builds(sources, tmp_path):
    stamps, backs = sources
    help_text = subprocess.run(
        [sys.executable, "-m", "hrcam", "data", "cutouts", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for flag in ("--out", "--stamps", "--backgrounds", "--object-scale", "--objects-per-image",
                 "--image-size", "--num-train", "--num-val", "--seed", "--feather",
                 "--color-match"):  # fmt: skip
        assert flag in help_text
    run = subprocess.run(
        [sys.executable, "-m", "hrcam", "data", "cutouts", "--out", str(tmp_path / "cli"),
         "--stamps", str(stamps), "--backgrounds", str(backs), "--num-train", "4",
         "--num-val", "4", "--image-size", "32", "--no-progress"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "wrote 8 images" in run.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "hrcam", "data", "cutouts", "--out", str(tmp_path / "x"),
         "--stamps", str(tmp_path / "nope")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    assert "Traceback" not in missing.stderr
