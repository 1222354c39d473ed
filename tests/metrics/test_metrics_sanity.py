"""Sanity checks (Adebayo et al. 2018): similarity measures and cascading randomization."""

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

from hrcam.errors import HrcamError
from hrcam.metrics import (
    SIMILARITIES,
    cascading_randomization,
    judge_against_null,
    map_similarity,
    null_similarity,
    random_logit_targets,
    randomize_modules,
    spread_steps,
)
from hrcam.metrics.statistics import MIN_VERDICT_UNITS, TOO_FEW_TO_JUDGE


def test_similarity_of_hand_made_maps():
    a = np.arange(64, dtype=float).reshape(1, 8, 8)
    same = map_similarity(a, 3 * a + 2)  # monotone transform: identical ranking and shape
    assert same["spearman"][0] == pytest.approx(1.0)
    assert same["ssim"][0] == pytest.approx(1.0)
    flipped = map_similarity(a, -a)
    assert flipped["spearman"][0] == pytest.approx(-1.0)
    assert set(same) == set(SIMILARITIES) == {"spearman", "ssim"}
    # Hand-computed Spearman: ranks (1,2,3,4) vs (2,1,4,3): 1 - 6*4/(4*15) = 0.6.
    x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    y = np.array([[[2.0, 1.0], [4.0, 3.0]]])
    assert map_similarity(x, y)["spearman"][0] == pytest.approx(0.6)
    with pytest.raises(HrcamError, match="one shape"):
        map_similarity(a, a[:, :4])


def test_huge_values_do_not_make_unrelated_maps_identical():
    """Maps near the float64 limit: float32 min-max overflowed, and SSIM read 1.0."""
    rng = np.random.default_rng(0)
    x, y = rng.random((2, 1, 16, 16))
    huge = map_similarity(1e308 * x, 1e308 * y)
    unit = [(v - v.min()) / (v.max() - v.min()) for v in (x[0], y[0])]
    expected = structural_similarity(unit[0], unit[1], data_range=1.0, win_size=7)
    assert huge["ssim"][0] == pytest.approx(expected, abs=1e-12)
    assert huge["ssim"][0] < 0.5
    assert huge["spearman"][0] == pytest.approx(spearmanr(x.ravel(), y.ravel())[0], abs=1e-12)
    # Spanning the whole float64 range (max - min overflows even in float64).
    both_ends = np.array([[[-1.7e308, 0.0], [1.0, 1.7e308]]])
    assert map_similarity(both_ends, both_ends)["spearman"][0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (np.zeros((0, 4, 4)), np.zeros((0, 4, 4)), "at least one map"),
        (np.zeros((2, 0, 4)), np.zeros((2, 0, 4)), "at least one map"),
        (np.zeros((4, 4)), np.zeros((4, 4)), r"\(B, H, W\)"),
        (np.full((1, 3, 3), np.nan), np.zeros((1, 3, 3)), "NaN or infinite"),
    ],
)
def test_bad_stacks_get_one_clear_error(a, b, match):
    with pytest.raises(HrcamError, match=match):
        map_similarity(a, b)


def test_null_is_the_spearman_of_every_pair_of_different_images():
    # Hand-computed: ranks (1,2,3,4) vs (2,1,4,3): 0.6; vs (4,3,2,1): -1; (2,1,4,3) vs
    # (4,3,2,1): d = (-2,-2,2,2), 1 - 6*16/(4*15) = -0.6.
    maps = np.array([[1, 2, 3, 4], [2, 1, 4, 3], [4, 3, 2, 1]], float).reshape(3, 2, 2)
    assert null_similarity(maps) == pytest.approx([0.6, -1.0, -0.6])
    # Against scipy, pair by pair, with ties and a flat map (which agrees with nothing).
    rng = np.random.default_rng(1)
    maps = rng.integers(0, 5, size=(6, 5, 5)).astype(float)
    maps[5] = 2.0
    expected = [
        spearmanr(maps[i].ravel(), maps[j].ravel())[0] if j != 5 else 0.0
        for i, j in itertools.combinations(range(6), 2)
    ]
    assert null_similarity(maps) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(HrcamError, match="at least 2 images"):
        null_similarity(maps[:1])


def test_judged_against_the_null_quantile():
    null = np.linspace(0.0, 1.0, 101)  # its 95th percentile is 0.95 exactly
    n = MIN_VERDICT_UNITS + 2
    kept = judge_against_null(np.full(n, 0.97), null)
    assert kept.verdict == "fails" and kept.threshold == pytest.approx(0.95)
    assert (kept.mean, kept.low, kept.high, kept.n_images) == pytest.approx((0.97,) * 3 + (n,))
    assert judge_against_null(np.full(n, 0.5), null).verdict == "passes"
    straddling = np.r_[np.full(n // 2, 0.90), np.full(n // 2, 1.0)]  # mean 0.95, CI around it
    assert judge_against_null(straddling, null).verdict == "undecided"
    # The rule of the book: MIN_VERDICT_UNITS images carry a verdict, one fewer do not.
    assert judge_against_null(np.full(MIN_VERDICT_UNITS, 0.99), null).verdict == "fails"
    few = judge_against_null(np.full(MIN_VERDICT_UNITS - 1, 0.99), null)
    assert few.verdict == TOO_FEW_TO_JUDGE and few.mean == pytest.approx(0.99)
    with pytest.raises(HrcamError, match="at least one similarity"):
        judge_against_null([], null)
    with pytest.raises(HrcamError, match="quantile"):
        judge_against_null([0.5], null, quantile=1.0)


def test_centre_bias_is_not_a_failure_but_kept_structure_is():
    """Smooth maps with a shared centre blob correlate well above 0 for unrelated images: the
    old fixed threshold of 0.5 failed such a map; against its null it does not fail."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[-1:1:24j, -1:1:24j]
    blob = np.exp(-(xx**2 + yy**2) / 0.5)
    n = 16
    trained = blob + 0.3 * rng.random((n, 24, 24))
    randomized = blob + 0.3 * rng.random((n, 24, 24))  # the model's part is gone
    null = null_similarity(trained)
    same_as_null = map_similarity(trained, randomized)["spearman"]
    judged = judge_against_null(same_as_null, null)
    assert judged.mean > 0.5  # the fixed threshold would have called this a failure
    assert judged.verdict == "passes"
    kept = trained + 0.01 * rng.random((n, 24, 24))  # the image-specific part survives
    assert judge_against_null(map_similarity(trained, kept)["spearman"], null).verdict == "fails"


def test_random_logit_targets_never_pick_the_target():
    targets = [0, 5, 9] * 50
    others = random_logit_targets(targets, 10, seed=1)
    assert all(o != t and 0 <= o < 10 for o, t in zip(others, targets, strict=True))
    assert len(set(others)) > 5
    with pytest.raises(HrcamError, match="at least 2 classes"):
        random_logit_targets([0], 1)
    assert random_logit_targets([np.int64(2), 1.0], 3, seed=0) == random_logit_targets([2, 1], 3)


@pytest.mark.parametrize("bad", [[5, -1, 2], [3], [-1], [0.5], ["a"], [True]])
def test_random_logit_targets_refuse_what_is_not_a_class(bad):
    with pytest.raises(HrcamError, match=r"not a class index in \[0, 3\)"):
        random_logit_targets(bad, 3)


def test_spread_steps():
    assert spread_steps(10, 4) == [0, 3, 6, 9]
    assert spread_steps(10, None) == spread_steps(10, 12) == list(range(10))
    assert spread_steps(10, 1) == [9]
    assert spread_steps(3, 2) == [0, 2]
    with pytest.raises(HrcamError):
        spread_steps(10, 0)


def test_cascade_explains_only_where_asked_and_randomizes_every_block():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    calls = []

    def explain(m):  # each layer's weights as a map: randomizing a layer changes its map
        calls.append(1)
        return {f"w{i}": m[i].weight.detach().numpy()[None].copy() for i in (0, 1)}

    base = explain(net)
    blocks = [("top", ["1"]), ("bottom", ["0"])]
    curves = cascading_randomization(net, blocks, explain, original=base, explain_at=[])
    assert len(calls) == 2  # the trained model's, and the last step's only
    assert curves.steps == ("bottom",) and curves.randomized == ("top", "bottom")
    assert curves.similarity["w0"]["spearman"].shape == (1, 1)
    # Both blocks were randomized before the one explanation: neither map is kept.
    assert curves.similarity["w0"]["spearman"][0, 0] < 0.99
    assert curves.similarity["w1"]["spearman"][0, 0] < 0.99
    every = cascading_randomization(net, blocks, explain, original=base)
    assert every.steps == ("top", "bottom")
    # Step 0 randomizes the top only: the bottom layer's map is untouched.
    assert every.similarity["w0"]["spearman"][0, 0] == pytest.approx(1.0)
    assert every.similarity["w0"]["spearman"][1, 0] == curves.similarity["w0"]["spearman"][0, 0]
    assert torch.equal(net[0].weight, torch.from_numpy(base["w0"][0]))  # the model is kept
    with pytest.raises(HrcamError, match="explain_at"):
        cascading_randomization(net, blocks, explain, original=base, explain_at=[2])


def test_randomize_modules_resets_only_what_is_named():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    before = [p.detach().clone() for p in net.parameters()]
    reset = randomize_modules(net, ["1"], seed=0)
    after = list(net.parameters())
    assert reset == ["1"]
    assert torch.equal(before[0], after[0]) and not torch.equal(before[2], after[2])
    with pytest.raises(ValueError, match="no submodule 'nope'"):
        randomize_modules(net, ["nope"], seed=0)


@pytest.fixture(scope="module")
def lite0_photo():
    pytest.importorskip("timm")
    from skimage.data import chelsea

    from hrcam.data.animal_photos import centre_crop
    from hrcam.models import HRCAM
    from hrcam.models.expansion import build_expansion
    from hrcam.models.lite0 import efficientnet_lite0

    classifier = efficientnet_lite0().eval()
    model = HRCAM(classifier, build_expansion(classifier)).eval()
    image = torch.from_numpy(centre_crop(chelsea(), 224)).permute(2, 0, 1)[None].float() / 255
    return model, image


def test_edges_survive_randomization_and_the_low_res_cam_does_not(lite0_photo):
    from skimage.filters import sobel

    from hrcam.methods import pixel_space_model
    from hrcam.studies.photo_faithfulness import lite0_blocks, method_maps

    model, image = lite0_photo
    with torch.no_grad():
        target = pixel_space_model(model.classifier)(image).argmax(1).tolist()
    edges = np.stack([sobel(im.mean(0).numpy()) for im in image])

    def explain(m):  # the image's edges ignore the model; the low-res CAM does not
        return {"edges": edges, **method_maps(m, ["low_res_cam"], image, target)}

    curves = cascading_randomization(model, lite0_blocks(model)[:3], explain, seed=0)
    assert curves.steps == ("FC", "conv_head", "block 6")
    for measure in SIMILARITIES:
        assert curves.similarity["edges"][measure].min() > 0.999
    low = curves.mean("low_res_cam", "spearman")
    # Randomizing the FC layer alone already changes the map: far from the edges' 1.
    assert low[0] < 0.8 and low.max() < 0.8
    # The trained model is left as it was.
    again = method_maps(model, ["low_res_cam"], image, target)["low_res_cam"]
    ref = explain(model)["low_res_cam"]
    assert np.allclose(again, ref)
