"""Helpers of the evidence chapter: oracle sweep, §5 subsets, failure examples, figures."""

from __future__ import annotations

import numpy as np
import pytest

from hrcam import plotting
from hrcam.metrics import pxap_from_counts
from hrcam.studies import (
    BOUNDS_SWEEP,
    FAILURE_KINDS,
    classifier_unchanged,
    failure_examples,
    oracle_noise_sweep,
    refine_study,
    subset_difference,
)


@pytest.fixture
def cams(constructed):
    return constructed(n=10)


def test_oracle_sweep_rows_and_figure(cams):
    rows = oracle_noise_sweep(cams, noises=(0.0, 0.5), n_boot=50)
    assert [(r["noise"], r["config"]) for r in rows] == [
        (0.0, "paper"), (0.0, "reference"), (0.5, "paper"), (0.5, "reference"),
    ]  # fmt: skip
    for r in rows:
        assert r["ci_low"] <= r["pxap"] <= r["ci_high"] and 0 <= r["fallback"] <= 1
    plotting.oracle_sweep(rows)


def test_bounds_sweep_keeps_the_presets_as_they_are(cams):
    from hrcam.postprocess import PRESETS
    from hrcam.studies.refine import _resolve

    assert _resolve(BOUNDS_SWEEP["paper (Q1-Q3 of high-res)"]) == PRESETS["paper"]
    assert _resolve(BOUNDS_SWEEP["reference (Q1-Q3 of gradient)"]) == PRESETS["reference"]
    study = refine_study(cams, ["expansion"], BOUNDS_SWEEP, include_raw=False, n_boot=50)
    no_limits = [r for r in study.per_image if r["config"] == "paper, no size limits"]
    assert not any(r["fallback"] for r in no_limits)
    rows = [study.difference(f"{name}@expansion") for name in BOUNDS_SWEEP]
    plotting.paired_differences(
        rows, list(BOUNDS_SWEEP),
        fallback=[study.value(f"{n}@expansion", "fallback_rate") for n in BOUNDS_SWEEP],
    )  # fmt: skip


def test_subset_difference_and_failure_examples(cams):
    study = refine_study(cams, ["expansion", "oracle"], n_boot=50)
    miss = subset_difference(study, "paper@oracle", low_res_miss=True, n_boot=50)
    hit = subset_difference(study, "paper@oracle", low_res_miss=False, n_boot=50)
    assert miss["n"] + hit["n"] == len(cams)
    # PxAP on a subset is the data-set statistic of those images' summed pixel counts.
    px = subset_difference(study, "paper@oracle", "pxap", low_res_miss=False, n_boot=50)
    low_hit = [i for i, r in enumerate(study.per_image)
               if r["method"] == "low_res_cam" and r["pointing"] >= 0.5]  # fmt: skip
    if low_hit:
        keep = {study.per_image[i]["index"] for i in low_hit}
        rows = np.isin(study.curves["paper@oracle"]["index"], list(keep))
        c = {k: v[rows] for k, v in study.curves["paper@oracle"].items()}
        expected = pxap_from_counts(
            c["pixel_tp"].sum(0), c["pixel_fp"].sum(0), c["pixel_pos"].sum()
        )
        assert px["n"] == hit["n"] and px["method_mean"] == pytest.approx(expected)
    examples = failure_examples(study, cams, "reference@oracle")
    kinds = [e["kind"] for e in examples]
    assert kinds == [k for k in FAILURE_KINDS if k in kinds] and kinds
    for e in examples:
        assert e["result"].refined.shape == cams.masks[0].shape
    plotting.failure_examples(examples)
    counts = {m: study.kind_counts(m) for m in ("paper@oracle", "reference@oracle")}
    plotting.kind_counts(counts)


def test_localization_plot_needs_loc_columns():
    rows = [{"epoch": 1, "loc_low_res_pxap": float("nan")}]
    with pytest.raises(ValueError, match="eval_every"):
        plotting.localization_over_epochs(rows)


def test_epoch_figures_plot_only_the_epochs_with_localization_scores():
    from hrcam.evaluate import LOCALIZATION_MAPS
    from hrcam.plotting.comparison import epochs_figure

    def row(epoch, score):
        loc = {f"loc_{m}_{k}": score for m in LOCALIZATION_MAPS for k in ("pxap", "mask_iou")}
        loc |= {f"loc_{m}_fallback": score for m in ("refined_paper", "refined_reference")}
        return {"epoch": epoch, "val_psnr": 20.0 + epoch, **(loc if score is not None else {})}

    history = [row(1, None), row(2, 0.5), row(3, float("nan")), row(4, 0.7)]
    fig = epochs_figure(history, history, 1.0)
    pxap_lines = fig.get_axes()[0].get_lines()
    assert len(pxap_lines) == 2 * len(LOCALIZATION_MAPS)
    assert all(list(line.get_xdata()) == [2, 4] for line in pxap_lines)
    assert list(fig.get_axes()[1].get_lines()[0].get_xdata()) == [1, 2, 3, 4]
    fig = plotting.localization_over_epochs(history)
    assert all(list(line.get_xdata()) == [2, 4] for line in fig.get_axes()[0].get_lines())


def test_classifier_unchanged_on_an_untouched_model(tiny_run, tmp_path):
    from hrcam.data.store import StoreDataset
    from hrcam.models import load_checkpoint, save_checkpoint

    ckpt, store = tiny_run
    model = load_checkpoint(ckpt).model().eval()
    clf = save_checkpoint(tmp_path / "clf.pt", model.classifier, metadata={"image_size": 32})
    out = classifier_unchanged(clf, model, StoreDataset(store, "val"), limit=5, batch_size=2)
    assert out["num_images"] == 5
    assert out["max_abs_logit_diff"] == 0.0 and out["prediction_agreement"] == 1.0
    assert out["accuracy_before"] == out["accuracy_after"]
    assert np.isfinite(out["max_abs_cam_diff"])


def test_extra_heldout_images_follow_the_store(tmp_path, constructed):
    from hrcam.data.synthetic import generate_synthetic
    from hrcam.methods import concat_cams
    from hrcam.studies import extra_heldout

    generate_synthetic(tmp_path / "s", 6, 4, image_size=32, num_classes=3, num_workers=0,
                       variant="small_objects")  # fmt: skip
    extra = extra_heldout(tmp_path / "s", tmp_path / "x", 5)
    assert len(extra) == 5 and extra.image_size == 32 and len(extra.classes) == 3
    assert extra.info.source["variant"] == "small_objects"
    assert extra.info.source["seed"] != 0
    a, b = constructed(n=3), constructed(n=2, seed=1)
    both = concat_cams(a, b, offset=10)
    assert len(both) == 5 and list(both.index) == [0, 1, 2, 10, 11]
    assert both.extra_high_res == {}


def test_concat_cams_keeps_extra_sources_and_refuses_unmatched_ones(constructed):
    from hrcam.methods import concat_cams

    a, b = constructed(n=3), constructed(n=2, seed=1)
    a.extra_high_res["other"] = a.high_res[::-1].copy()
    with pytest.raises(ValueError, match=r"other extra high-res sources: \['other'\] and \[\]"):
        concat_cams(a, b)
    b.extra_high_res["other"] = b.high_res + 1
    both = concat_cams(a, b, offset=10)
    assert both.extra_high_res.keys() == {"other"}
    np.testing.assert_array_equal(both.extra_high_res["other"][:3], a.extra_high_res["other"])
    np.testing.assert_array_equal(both.extra_high_res["other"][3:], b.extra_high_res["other"])
