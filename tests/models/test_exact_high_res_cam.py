"""The high-res CAM of a wide classifier is exact for the explained classes (issue 32)."""

import pytest
import torch

from hrcam.models import HRCAM, build_expansion
from hrcam.models.basis import class_basis, kept_share
from hrcam.models.cams import high_res_cam


@pytest.fixture(scope="module")
def lite0():
    from hrcam.models.lite0 import efficientnet_lite0

    return efficientnet_lite0().eval()


def test_a_random_animal_classs_high_res_cam_is_its_fc_row_on_the_full_k_channel_map(lite0):
    from hrcam.models.wrap import imagenet_animal_indices

    animals = imagenet_animal_indices()
    torch.manual_seed(0)
    network = build_expansion(lite0, image_size=64, classes=animals)
    assert network.k == 398 and network.cam_channels == 1280
    model = HRCAM(lite0, network).eval()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 64, 64, generator=gen)
    classes = [animals[int(i)] for i in torch.randint(0, 398, (2,), generator=gen)]
    with torch.no_grad():
        out = model(x)
        cams = high_res_cam(out.hr_features, model.high_res_weight, classes)
        # The paper's K-channel full-resolution map, built explicitly (1280 channels).
        full = torch.einsum("kr,brhw->bkhw", network.cam_basis, out.hr_features)
        expected = torch.einsum("bk,bkhw->bhw", lite0.fc.weight[classes], full)
    assert full.shape == (2, 1280, 64, 64)
    torch.testing.assert_close(cams, expected, atol=1e-4, rtol=1e-4)
    assert expected.abs().max() > 1e-3  # not a comparison of zeros
    # Nothing of any animal class's weights is dropped; other classes are projected.
    share = network.kept_share(lite0.fc.weight)
    assert float(share[animals].min()) > 1 - 1e-6
    assert float(share[[i for i in range(1000) if i not in set(animals)]].min()) < 0.999
    assert "exact for each of the 398 explained classes" in network.describe_basis(lite0.fc.weight)


def test_the_default_basis_spans_every_class_and_low_rank_is_opt_in_and_said(lite0):
    exact = class_basis(lite0.fc.weight)
    assert exact.shape == (1280, 1000)  # rank of Lite0's FC weights
    torch.testing.assert_close(exact.T @ exact, torch.eye(1000), atol=1e-5, rtol=0)
    assert float(kept_share(lite0.fc.weight, exact).min()) > 1 - 1e-6
    low = build_expansion(lite0, image_size=64, rank=16)
    share = low.kept_share(lite0.fc.weight)
    assert 0.05 < float(share.mean()) < 0.15  # about 9%: why rank 16 is not the class's map
    assert low.config["rank"] == 16 and "rank-16 approximation (opt-in)" in low.describe_basis(
        lite0.fc.weight
    )


def test_a_narrow_classifier_keeps_the_papers_construction():
    from hrcam.models import build_classifier

    clf = build_classifier("densenet_compact", num_classes=3)
    network = build_expansion(clf, image_size=32)
    assert network.cam_basis is None and network.k == clf.k
    assert "paper's construction" in network.describe_basis(clf.fc.weight)


@pytest.mark.parametrize(
    ("classes", "rank", "message"),
    [([0, 0], None, "distinct"), ([5000], None, r"\[0, 1000\)"), ([0, 1], 3, r"\[1, 2\]")],
)
def test_bad_classes_or_rank_are_refused_with_the_allowed_range(lite0, classes, rank, message):
    with pytest.raises(ValueError, match=message):
        build_expansion(lite0, image_size=64, classes=classes, rank=rank)


def test_class_specs_parse_and_bad_ones_say_the_accepted_forms():
    from hrcam.train.config import parse_classes

    assert parse_classes("imagenet-animals") == list(range(398))
    assert parse_classes("3,7,10-12") == [3, 7, 10, 11, 12]
    with pytest.raises(ValueError, match="imagenet-animals"):
        parse_classes("dogs")
    with pytest.raises(ValueError, match="twice"):
        parse_classes("1-3,2")
