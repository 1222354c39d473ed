"""The explainer chains classifier, expansion network and hrcam.postprocess.refine."""

import numpy as np
import pytest
import torch

from hrcam.explain import Explainer
from hrcam.models import HRCAM, build_classifier, build_expansion, low_res_cam, normalize_images


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(10)
    clf = build_classifier("densenet_compact", num_classes=4)
    return HRCAM(clf, build_expansion(clf, image_size=64, growth_rate=8, layers_per_block=2))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.integers(0, 256, size=(3, 3, 64, 64), dtype=np.uint8))


@pytest.mark.slow
def test_explain_defaults_to_predicted_class(model, images):
    results = Explainer(model, batch_size=2).explain(images)  # two forward passes
    assert len(results) == 3
    with torch.no_grad():
        out = model(normalize_images(images))
    probs = torch.softmax(out.logits, 1)
    lows = low_res_cam(out.cam_features, model.classifier.fc.weight, probs.argmax(1))
    for i, r in enumerate(results):
        assert r.label == r.predicted == int(probs[i].argmax())
        assert r.probability == pytest.approx(float(probs[i].max()), rel=1e-5)
        assert r.low_res_cam.shape == (4, 4) and r.high_res_cam.shape == (64, 64)
        np.testing.assert_allclose(r.low_res_cam, lows[i].numpy(), rtol=1e-5, atol=1e-6)
        assert r.refinement.refined.shape == (64, 64)
        assert r.refinement.config.focal_mode == Explainer(model).config.focal_mode
        assert np.isfinite(r.refinement.refined).all()


def test_explain_given_classes_floats_and_overrides(model, images):
    float_images = images.numpy().astype(np.float32) / 255.0
    ex = Explainer(model, preset="reference", alpha=0.7)
    results = ex.explain(float_images, classes=[3, 0, 3])
    assert [r.label for r in results] == [3, 0, 3]
    assert all(r.refinement.config.alpha == 0.7 for r in results)
    with torch.no_grad():
        probs = torch.softmax(model(normalize_images(images)).logits, 1)
    assert results[1].probability == pytest.approx(float(probs[1, 0]), rel=1e-5)


def test_explain_bf16_autocast_channels_last_on_cpu(model, images):
    plain = Explainer(model).explain(images[:1])[0]
    fast = Explainer(model, precision="bfloat16", device="cpu").explain(images[:1])[0]
    model.to(memory_format=torch.contiguous_format)
    assert fast.high_res_cam.dtype == np.float32
    assert fast.low_res_cam.shape == plain.low_res_cam.shape
    scale = np.abs(plain.low_res_cam).max()
    assert np.abs(fast.low_res_cam - plain.low_res_cam).max() <= 0.1 * scale + 0.05


def test_bf16_expansion_keeps_the_classifier_exact(model, images):
    """Only the high-res (and so the refined) CAM may change; the model is left as it was."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = Explainer(model).explain(images)
    fast = Explainer(model, precision="bfloat16-expansion").explain(images)
    for k, v in model.state_dict().items():
        assert v.dtype == before[k].dtype and torch.equal(v, before[k]), k
    for p, f in zip(plain, fast, strict=True):
        assert (f.label, f.predicted, f.probability) == (p.label, p.predicted, p.probability)
        np.testing.assert_array_equal(f.low_res_cam, p.low_res_cam)
        assert f.high_res_cam.dtype == np.float32 and f.refinement.refined.dtype == np.float32
        scale = np.abs(p.high_res_cam).max()
        error = np.abs(f.high_res_cam - p.high_res_cam).max()
        # bfloat16 keeps 8 significant bits: close, but not the float32 map.
        assert 0 < error <= 0.05 * scale


def test_explainer_errors(model, images):
    with pytest.raises(ValueError, match="precision 'half'; choose one of float32"):
        Explainer(model, precision="half")
    with pytest.raises(ValueError, match="preset"):
        Explainer(model, preset="nope")
    with pytest.raises(ValueError, match="HRCAM"):
        Explainer(model.classifier)
    ex = Explainer(model)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        ex.explain(images[0])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        ex.explain(images, classes=[0, 1, 7])
    with pytest.raises(ValueError, match="3 ints"):
        ex.explain(images, classes=[0, 1])
