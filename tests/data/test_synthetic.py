"""The built-in synthetic set: determinism, exact masks, balance, and no label in the background."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hrcam.data.store import StoreDataset, boxes_from_masks
from hrcam.data.synthetic import (
    VARIANTS,
    generate_synthetic,
    render_synthetic,
    synthetic_class_specs,
    synthetic_classes,
)


def _arrays(root, split="train"):
    ds = StoreDataset(root, split)
    return ds.read_arrays(np.arange(len(ds)))


def test_deterministic_and_independent_of_worker_count(tmp_path):
    a = generate_synthetic(
        tmp_path / "a", 150, 40, image_size=64, seed=3, shard_size=64, num_workers=0
    )
    generate_synthetic(tmp_path / "b", 150, 40, image_size=64, seed=3, shard_size=64, num_workers=2)
    generate_synthetic(tmp_path / "c", 150, 40, image_size=64, seed=4, shard_size=64, num_workers=0)
    assert a.count("train") == 150 and a.count("val") == 40
    for split in ("train", "val"):
        x, y, z = (_arrays(tmp_path / n, split) for n in "abc")
        for k in ("images", "labels", "masks", "boxes"):
            assert np.array_equal(x[k], y[k]), k
        assert not np.array_equal(x["images"], z["images"])
    # train and val are different draws
    assert not np.array_equal(
        _arrays(tmp_path / "a")["images"][:40], _arrays(tmp_path / "a", "val")["images"]
    )


def test_resume_keeps_finished_shards_and_refuses_other_settings(tmp_path):
    generate_synthetic(tmp_path / "s", 130, 0, image_size=48, seed=1, shard_size=64, num_workers=0)
    ref = _arrays(tmp_path / "s")
    for f in (tmp_path / "s" / "train").glob("*00001*"):
        f.unlink()  # simulate an interruption during shard 1
    generate_synthetic(tmp_path / "s", 130, 0, image_size=48, seed=1, shard_size=64, num_workers=0)
    again = _arrays(tmp_path / "s")
    assert np.array_equal(ref["images"], again["images"])
    with pytest.raises(ValueError, match="other settings"):
        generate_synthetic(tmp_path / "s", 130, 0, image_size=48, seed=2, shard_size=64)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_masks_are_exact_and_boxes_tight(variant):
    rng = np.random.default_rng(0)
    out = render_synthetic(np.arange(32) % 8, rng, 96, return_background=True, variant=variant)
    img, bg, m = out["images"], out["backgrounds"], out["masks"].astype(bool)
    # outside the mask the image is exactly the background: the mask covers every object pixel
    assert np.array_equal(img[~m], bg[~m])
    # inside the mask nearly every pixel was repainted
    changed = np.any(img != bg, axis=-1)
    assert changed[m].mean() > 0.95
    assert np.array_equal(out["boxes"], boxes_from_masks(out["masks"]))
    area = m.mean(axis=(1, 2))
    assert area.min() > (0.002 if variant == "small_objects" else 0.01) and area.max() < 0.5


def test_variants_change_what_they_name():
    labels = np.arange(48) % 8

    def render(variant):
        return render_synthetic(labels, np.random.default_rng(2), 96, variant=variant)

    default, small = render("default"), render("small_objects")
    assert small["masks"].mean() < 0.5 * default["masks"].mean()
    # thin parts: a larger share of the mask is thin (removed by a 3x3 opening)
    from scipy.ndimage import binary_opening

    def thin_share(masks):
        m = masks.astype(bool)
        opened = np.stack([binary_opening(x, np.ones((3, 3))) for x in m])
        return (m & ~opened).sum() / m.sum()

    assert thin_share(render("thin_parts")["masks"]) > 2 * thin_share(default["masks"])
    # plain background: much less high-frequency energy outside the object
    plain = render("plain_background")

    def bg_roughness(out):
        g = out["images"].astype(float).mean(-1)
        d = np.abs(np.diff(g, axis=2))[~out["masks"][:, :, 1:].astype(bool)]
        return d.mean()

    assert bg_roughness(plain) < 0.5 * bg_roughness(default)
    with pytest.raises(ValueError, match="unknown synthetic variant"):
        render("striped_background")


def test_variant_is_recorded_and_default_store_unchanged(tmp_path):
    import json

    generate_synthetic(tmp_path / "d", 20, 4, image_size=48, num_workers=0)
    generate_synthetic(tmp_path / "t", 20, 4, image_size=48, num_workers=0, variant="thin_parts")
    assert "variant" not in json.loads((tmp_path / "d" / "meta.json").read_text())["source"]
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())
    assert meta["source"]["variant"] == "thin_parts"
    with pytest.raises(ValueError, match="other settings"):
        generate_synthetic(tmp_path / "t", 20, 4, image_size=48, num_workers=0)


def test_objects_vary_in_size_and_position():
    out = render_synthetic(np.arange(120) % 8, np.random.default_rng(1), 96)
    b = out["boxes"].astype(float)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    assert cx.min() < 30 and cx.max() > 66 and cy.min() < 30 and cy.max() > 66
    w = b[:, 2] - b[:, 0]
    assert w.max() > 2 * w.min()


def test_labels_balanced_and_class_names():
    assert len(set(synthetic_classes(12))) == 12
    assert synthetic_classes(8)[:2] == ["coarse-striped-stocky", "fine-spotted-slender"]
    specs = synthetic_class_specs(8)
    assert {s["pattern"] for s in specs} == {"stripes", "spots"}
    with pytest.raises(ValueError, match="num_classes"):
        synthetic_classes(1)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_train"):
        generate_synthetic(tmp_path, num_train=-1)
    with pytest.raises(ValueError, match="image_size"):
        generate_synthetic(tmp_path, num_train=5, image_size=8)
    with pytest.raises(ValueError, match="labels"):
        render_synthetic([9], np.random.default_rng(0), 64, num_classes=8)


def _spectral_features(patches: np.ndarray) -> np.ndarray:
    """Colour mean/std and radially binned log power spectrum of grey patches (N,P,P,3)."""
    x = patches.astype(np.float64) / 255
    gray = x.mean(-1)
    gray = gray - gray.mean(axis=(1, 2), keepdims=True)
    p = gray.shape[1]
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray), axes=(1, 2))) ** 2
    yy, xx = np.mgrid[0:p, 0:p] - p // 2
    r = np.hypot(yy, xx)
    bins = np.linspace(1, p // 2, 9)
    radial = [power[:, (r >= lo) & (r < hi)].mean(1) for lo, hi in itertools.pairwise(bins)]
    return np.column_stack([x.mean((1, 2)), x.std((1, 2)), np.log1p(np.column_stack(radial))])


def _cv_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    pred = cross_val_predict(clf, features, labels, cv=5)
    return float((pred == labels).mean())


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_background_carries_no_label_but_object_does(variant):
    """Same features, same classifier: chance on background, well above chance on objects."""
    n, size, p = 1200, 80, 20
    rng = np.random.default_rng(7)
    labels = rng.permutation(np.arange(n) % 8)
    parts = [
        render_synthetic(labels[i : i + 200], rng, size, return_background=True, variant=variant)
        for i in range(0, n, 200)
    ]
    imgs = np.concatenate([q["images"] for q in parts])
    bgs = np.concatenate([q["backgrounds"] for q in parts])
    masks = np.concatenate([q["masks"] for q in parts])

    # (1) object crops: a p x p patch at the mask's centre of mass
    obj, bkg, bkg_labels = [], [], []
    for i in range(n):
        ys, xs = np.nonzero(masks[i])
        cy = int(np.clip(ys.mean() - p // 2, 0, size - p))
        cx = int(np.clip(xs.mean() - p // 2, 0, size - p))
        obj.append(imgs[i, cy : cy + p, cx : cx + p])
        # (2) a background-only crop of the real image: first grid patch with no object pixel
        for y0 in range(0, size - p + 1, p // 2):
            hit = next(
                (
                    x0
                    for x0 in range(0, size - p + 1, p // 2)
                    if not masks[i, y0 : y0 + p, x0 : x0 + p].any()
                ),
                None,
            )
            if hit is not None:
                bkg.append(imgs[i, y0 : y0 + p, hit : hit + p])
                bkg_labels.append(labels[i])
                break
    obj_acc = _cv_accuracy(_spectral_features(np.stack(obj)), labels)
    bkg_labels = np.array(bkg_labels)
    bkg_acc = _cv_accuracy(_spectral_features(np.stack(bkg)), bkg_labels)
    # (3) whole scenes with the object left out (the generator's background layer)
    scene_acc = _cv_accuracy(_spectral_features(bgs), labels)

    chance = 1 / 8
    # binomial s.d. of a chance-level accuracy over ~1200 predictions is ~1 %
    limit = chance + 4 * np.sqrt(chance * (1 - chance) / len(bkg_labels))
    assert len(bkg_labels) > 0.9 * n
    assert bkg_acc < limit, (bkg_acc, limit)
    assert scene_acc < chance + 4 * np.sqrt(chance * (1 - chance) / n), scene_acc
    assert obj_acc > 0.4, obj_acc  # the same features do see the class on the object
    print(
        f"{variant}: object {obj_acc:.3f}, background crops {bkg_acc:.3f}, scenes {scene_acc:.3f}"
    )
