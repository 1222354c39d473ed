"""What a bfloat16 expansion network changes in the maps, measured on the tiny run."""

from __future__ import annotations

import numpy as np
import pytest


def test_map_deviation_is_a_share_of_the_range():
    from hrcam.studies import map_deviation

    exact = np.zeros((2, 4, 4))
    exact[0, 0, 0] = 2.0  # range 2
    approx = exact.copy()
    approx[0, 1, 1] = 0.5
    approx[1, 2, 2] = 0.25  # constant exact map: range counted as 1
    np.testing.assert_allclose(map_deviation(exact, approx), [0.25, 0.25])
    np.testing.assert_array_equal(map_deviation(exact, exact), [0.0, 0.0])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        map_deviation(exact, approx[:1])


def test_precision_effect_on_the_tiny_run(tiny_run):
    import torch

    from hrcam.data.store import StoreDataset
    from hrcam.models import load_checkpoint, with_expansion_dtype
    from hrcam.studies import evaluate_sources, precision_effect, precision_text

    ckpt, store = tiny_run
    model = load_checkpoint(ckpt).model().eval()
    val = StoreDataset(store, "val")
    model16 = with_expansion_dtype(model, torch.bfloat16)
    kw = {"limit": 6, "batch_size": 4}
    study = evaluate_sources(model, val, sources=["expansion"], n_boot=50, progress=False,
                             box_metrics=False, high_res_models={"bfloat16": model16},
                             **kw)  # fmt: skip
    values = precision_effect(study, model, model16, val, n_boot=50, **kw)
    assert values["prec_images"] == 6
    # bfloat16 really ran (the maps moved), and moved them by ~1% of their range, not more.
    assert 0 < values["prec_hr_dev_median"] <= values["prec_hr_dev_max"] < 0.05
    for preset in ("paper", "reference"):
        assert 0.0 <= values[f"prec_{preset}_identical"] <= 1.0
        changed = values[f"prec_{preset}_pixels_changed"]
        assert 0.0 <= changed <= 1.0
        assert (changed == 0.0) == (values[f"prec_{preset}_identical"] == 1.0)
        lo, hi = values[f"prec_{preset}_pxap_lo"], values[f"prec_{preset}_pxap_hi"]
        assert lo <= values[f"prec_{preset}_pxap"] <= hi
    text = precision_text(values)
    assert "On 6 images" in text and "`paper` preset" in text and "`reference` preset" in text
    # The exact model as its own "low-precision" model: nothing moves at all.
    same = evaluate_sources(model, val, sources=["expansion"], n_boot=50, progress=False,
                            box_metrics=False, high_res_models={"bfloat16": model},
                            **kw)  # fmt: skip
    zero = precision_effect(same, model, model, val, n_boot=50, **kw)
    assert zero["prec_hr_dev_max"] == 0.0 and zero["prec_paper_identical"] == 1.0
    assert zero["prec_reference_pixels_changed"] == 0.0
    assert zero["prec_paper_pxap"] == zero["prec_raw_pxap"] == 0.0


def test_precision_effect_refuses_another_classifier(tiny_run):
    import torch

    from hrcam.data.store import StoreDataset
    from hrcam.models import HRCAM, build_classifier, build_expansion, load_checkpoint
    from hrcam.studies import evaluate_sources, precision_effect

    ckpt, store = tiny_run
    model = load_checkpoint(ckpt).model().eval()
    val = StoreDataset(store, "val")
    torch.manual_seed(3)
    clf = build_classifier("densenet_compact", num_classes=3)
    stranger = HRCAM(clf, build_expansion(clf, image_size=32)).eval()
    study = evaluate_sources(model, val, sources=["expansion"], limit=4, batch_size=4,
                             n_boot=20, progress=False, box_metrics=False)  # fmt: skip
    with pytest.raises(ValueError, match="share model's classifier"):
        precision_effect(study, model, stranger, val, limit=4, batch_size=4, n_boot=20)
    with pytest.raises(ValueError, match="the study scored 4 images but limit=6 gives 6"):
        precision_effect(study, model, model, val, limit=6, batch_size=4, n_boot=20)
