"""Sanity checks (Adebayo et al. 2018): similarity measures and cascading randomization."""

import numpy as np
import pytest
import torch

from hrcam.metrics import (
    cascading_randomization,
    map_similarity,
    random_logit_targets,
    randomize_modules,
)


def test_similarity_of_hand_made_maps():
    a = np.arange(64, dtype=float).reshape(1, 8, 8)
    same = map_similarity(a, 3 * a + 2)  # monotone transform: identical ranking and shape
    assert same["spearman"][0] == pytest.approx(1.0)
    assert same["ssim"][0] == pytest.approx(1.0)
    flipped = map_similarity(a, -a)
    assert flipped["spearman"][0] == pytest.approx(-1.0)
    signed = a - 31.5  # |signed| ranks from the centre outwards
    both = map_similarity(signed, -signed)
    assert both["spearman"][0] == pytest.approx(-1.0)
    assert both["spearman_abs"][0] == pytest.approx(1.0)
    # Hand-computed Spearman: ranks (1,2,3,4) vs (2,1,4,3): 1 - 6*4/(4*15) = 0.6.
    x = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    y = np.array([[[2.0, 1.0], [4.0, 3.0]]])
    assert map_similarity(x, y)["spearman"][0] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="one shape"):
        map_similarity(a, a[:, :4])


def test_random_logit_targets_never_pick_the_target():
    targets = [0, 5, 9] * 50
    others = random_logit_targets(targets, 10, seed=1)
    assert all(o != t and 0 <= o < 10 for o, t in zip(others, targets, strict=True))
    assert len(set(others)) > 5
    with pytest.raises(ValueError):
        random_logit_targets([0], 1)


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
    for measure in ("spearman", "spearman_abs", "ssim"):
        assert curves.similarity["edges"][measure].min() > 0.999
    low = curves.mean("low_res_cam", "spearman")
    # Randomizing the FC layer alone already changes the map: far from the edges' 1.
    assert low[0] < 0.8 and low.max() < 0.8
    # The trained model is left as it was.
    again = method_maps(model, ["low_res_cam"], image, target)["low_res_cam"]
    ref = explain(model)["low_res_cam"]
    assert np.allclose(again, ref)
