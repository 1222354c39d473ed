"""hrcam.studies.comparison: joining evaluations, ranking, the page's statement and figures;
and (hrcam.studies.consistency) the consistency network as a source of the high-res-source
ablation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrcam import plotting
from hrcam.studies import comparison, consistency
from hrcam.studies.comparison import Comparison


@pytest.fixture(scope="module")
def two_models(tiny_run):
    """The tiny run's HRCAM and a second one on the same classifier, another expansion."""
    import torch

    from hrcam.data.store import StoreDataset
    from hrcam.models import HRCAM, build_expansion, load_checkpoint

    ckpt, store = tiny_run
    model = load_checkpoint(ckpt).model().eval()
    torch.manual_seed(1)
    other = HRCAM(model.classifier, build_expansion(model.classifier, image_size=32)).eval()
    return model, other, StoreDataset(store, "val")


def _evaluate(model, val, methods, **kw):
    from hrcam.evaluate import evaluate

    return evaluate(model, val, methods=methods, limit=6, batch_size=4, score_cam_limit=0,
                    faithfulness_limit=0, n_boot=50, progress=False, workers=1, **kw)  # fmt: skip


def test_combine_joins_the_consistency_rows_and_checks_the_images(two_models, tmp_path):
    model, other, val = two_models
    base_result = _evaluate(model, val, ["low_res_cam", "high_res_cam", "refined_reference"])
    base_result.save(tmp_path / "evaluation")
    base = comparison.load_evaluation(tmp_path / "evaluation")
    assert base.methods == ["low_res_cam", "high_res_cam", "refined_reference"]
    ours = _evaluate(other, val, ["high_res_cam", "refined_reference"])
    comp = comparison.combine(base, ours, 1.0)
    assert comp.methods[-2:] == ["consistency_high_res_cam", "consistency_refined_reference"]
    # The joined rows are the second evaluation's, under the new name.
    assert comp.value("consistency_high_res_cam", "pxap") == pytest.approx(
        ours.value("high_res_cam", "pxap")
    )
    assert comp.value("high_res_cam", "pxap") == pytest.approx(
        base_result.value("high_res_cam", "pxap"), abs=1e-6
    )
    assert comp.labels["consistency_high_res_cam"].endswith("consistency W=1")
    assert comp.labels["high_res_cam"].endswith("W=0")
    # Paired: a method against itself differs by exactly 0; against another, PxAP by the
    # difference of the two data-set values, a per-image metric by the mean difference.
    same = comp.paired("low_res_cam", "low_res_cam", "pxap", n_boot=50)
    assert same["difference"] == 0.0 and same["n"] == 6
    d = comp.paired("consistency_high_res_cam", "high_res_cam", "pxap", n_boot=50)
    assert d["difference"] == pytest.approx(
        ours.value("high_res_cam", "pxap") - base_result.value("high_res_cam", "pxap"), abs=1e-6
    )
    assert d["ci_low"] <= d["difference"] <= d["ci_high"]
    d = comp.paired("consistency_high_res_cam", "high_res_cam", "image_ap", n_boot=50)
    per = {r["index"]: r["image_ap"] for r in ours.per_image if r["method"] == "high_res_cam"}
    theirs = {r["index"]: r["image_ap"] for r in base_result.per_image
              if r["method"] == "high_res_cam"}  # fmt: skip
    assert d["difference"] == pytest.approx(np.mean([per[i] - theirs[i] for i in per]), abs=1e-5)
    path = comp.save(tmp_path / "out")
    assert json.loads(path.read_text())["methods"] == comp.methods
    assert "consistency W=1" in comp.to_markdown()


def test_combine_refuses_other_images_or_another_classifier(two_models, tmp_path):
    from hrcam.evaluate import evaluate
    from hrcam.models import HRCAM, build_classifier, build_expansion

    model, other, val = two_models
    _evaluate(model, val, ["low_res_cam"]).save(tmp_path / "evaluation")
    base = comparison.load_evaluation(tmp_path / "evaluation")
    fewer = evaluate(other, val, methods=["high_res_cam"], limit=4, batch_size=4,
                     score_cam_limit=0, faithfulness_limit=0, n_boot=50,
                     progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="num_images"):
        comparison.combine(base, fewer, 1.0)
    # A classifier that predicts other classes explains other classes: not comparable.
    import torch

    torch.manual_seed(5)
    clf = build_classifier("densenet_compact", num_classes=3)
    with torch.no_grad():
        clf.fc.bias.copy_(torch.tensor([0.0, 0.0, 50.0]))  # always class 2
    stranger = HRCAM(clf, build_expansion(clf, image_size=32)).eval()
    result = _evaluate(stranger, val, ["high_res_cam"])
    with pytest.raises(ValueError, match="different classes"):
        comparison.combine(base, result, 1.0)
    with pytest.raises(ValueError, match="no method"):
        comparison.combine(base, _evaluate(other, val, ["high_res_cam"]), 1.0, ["refined_paper"])
    with pytest.raises(FileNotFoundError, match="05_evaluation"):
        comparison.load_evaluation(tmp_path / "nowhere")


def _hand_made(scores: dict[str, list[float]], runtime: dict[str, float], n_all: int = 0):
    """A Comparison with given per-image AP values (methods with fewer values: partial)."""
    from hrcam.metrics import bootstrap_mean_ci

    n_all = n_all or max(len(v) for v in scores.values())
    table, per_image = [], []
    for m, vals in scores.items():
        mean, lo, hi = bootstrap_mean_ci(vals, 200, 0)
        table.append({"method": m, "metric": "image_ap", "n": len(vals), "mean": mean,
                      "ci_low": lo, "ci_high": hi})  # fmt: skip
        table.append({"method": m, "metric": "runtime_ms", "n": len(vals),
                      "mean": runtime[m], "ci_low": runtime[m], "ci_high": runtime[m]})  # fmt: skip
        per_image += [{"index": i, "method": m, "image_ap": v} for i, v in enumerate(vals)]
    labels = {m: m.upper() for m in scores}
    return Comparison(list(scores), labels, table, per_image, {"num_images": n_all})


def test_ranking_and_statement_follow_the_numbers():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 0.7, 40)
    comp = _hand_made(
        {"low_res_cam": list(base), "good": list(base + 0.2), "close": list(base + 0.01),
         "partial": list(base[:5] + 0.3)},
        {"low_res_cam": 2.0, "good": 10.0, "close": 3.0, "partial": 100.0},
    )  # fmt: skip
    ranked, partial = comparison.ranking(comp, "image_ap")
    assert ranked == ["good", "close", "low_res_cam"] and partial == ["partial"]
    best = comparison.best_method(comp, "image_ap", n_boot=200)
    assert best["best"] == "good" and best["runner_up"] == "close"
    # Chosen on one half of the images, tested on the other: 20 and 20.
    assert best["chosen"] == "good" and best["paired"]["n"] == 20
    assert best["cost_ratio"] == pytest.approx(5.0)
    assert (
        "GOOD, tested on the other 20 against that half's runner-up, CLOSE, is ahead of it"
        in best["text"]
    )
    assert "5.0x" in best["text"]
    # Fewer than 10 independent units in the test half: no lead is claimed.
    few = _hand_made({"low_res_cam": list(base[:12]), "good": list(base[:12] + 0.2)},
                     {"low_res_cam": 2.0, "good": 10.0})  # fmt: skip
    out = comparison.best_method(few, "image_ap", n_boot=200)
    assert out["paired"] is None and "too few to judge" in out["text"]
    # Two methods with the same per-image scores are not distinguishable.
    tie = _hand_made({"low_res_cam": list(base), "twin": list(base), "worse": list(base - 0.2)},
                     {"low_res_cam": 2.0, "twin": 4.0, "worse": 1.0})  # fmt: skip
    text = comparison.best_method(tie, "image_ap", n_boot=200)["text"]
    assert "not distinguishable" in text
    # Lower is better for runtime: the ranking reverses.
    assert comparison.ranking(comp, "runtime_ms")[0][0] == "low_res_cam"
    with pytest.raises(KeyError, match="curves"):
        comp.paired("good", "close", "mask_iou")


def _from_maps(noise: dict[str, float], n: int = 30) -> Comparison:
    """A Comparison scored from real maps: the object plus noise of the given strength."""
    from hrcam.evaluate import summary_rows
    from hrcam.evaluate.scoring import append_counts, image_scores, pack_curves
    from hrcam.metrics import DEFAULT_THRESHOLDS

    rng = np.random.default_rng(0)
    records, curves = [], {m: {"mask_iou": [], "box_iou": [], "index": []} for m in noise}
    for i in range(n):
        mask = np.zeros((20, 20), bool)
        r, c = rng.integers(0, 12, size=2)
        mask[r : r + 8, c : c + 8] = True
        box = np.array([c, r, c + 8, r + 8])
        base = rng.normal(size=mask.shape)
        for m, s in noise.items():
            scores, iou, box_iou, counts = image_scores(mask + s * base, mask, box,
                                                        DEFAULT_THRESHOLDS)  # fmt: skip
            append_counts(curves[m], counts)
            curves[m]["mask_iou"].append(iou)
            curves[m]["box_iou"].append(box_iou)
            curves[m]["index"].append(i)
            records.append({"index": i, "method": m, **scores, "runtime_ms": 1.0})
    packed = {m: pack_curves(c, DEFAULT_THRESHOLDS.size) for m, c in curves.items()}
    metrics = ("pointing", "energy_pointing", "pxap", "mask_iou", "max_box_acc_v2", "runtime_ms")
    table = summary_rows(records, packed, list(noise), 200, 0, metrics)
    labels = {m: m.upper() for m in noise}
    return Comparison(list(noise), labels, table, records, {"num_images": n}, packed)


def test_page_values_and_consistency_effect():
    noise = {"low_res_cam": 0.8, "high_res_cam": 2.0, "refined_paper": 0.8,
             "consistency_high_res_cam": 1.2, "consistency_refined_paper": 0.3}  # fmt: skip
    comp = _from_maps(noise)
    effect = comparison.consistency_effect(comp, "pxap", n_boot=200)
    assert set(effect) == {"high_res_cam", "refined_paper"}
    assert effect["high_res_cam"]["vs_paper"]["verdict"] == "better"
    assert effect["high_res_cam"]["vs_low_res"]["verdict"] == "worse"
    assert effect["refined_paper"]["rank"] == 1
    rows, labels = comparison.effect_rows(comp, effect)
    assert [(r["a"], r["b"]) for r in rows] == [
        ("consistency_high_res_cam", "high_res_cam"),
        ("consistency_refined_paper", "refined_paper"),
        ("consistency_high_res_cam", "low_res_cam"),
        ("consistency_refined_paper", "low_res_cam"),
    ]
    names = comp.labels
    assert labels[0] == f"{names['consistency_high_res_cam']} minus {names['high_res_cam']}"
    values = comparison.page_values(comp, 1.0, n_boot=200)
    assert values["cons_high_res_cam_vs_paper"] == pytest.approx(
        comp.metric_value("consistency_high_res_cam", "pxap")
        - comp.metric_value("high_res_cam", "pxap")
    )
    assert values["cons_high_res_cam_vs_paper_lo"] > 0
    assert values["best_pxap_label"] == "CONSISTENCY_REFINED_PAPER"
    assert "W=1" in values["consistency_text"]


def test_example_grid_draws_every_map_at_full_resolution():
    n, h = 2, 150
    images = np.zeros((n, h, h, 3), np.uint8)
    masks = np.zeros((n, h, h), bool)
    masks[:, 40:90, 40:90] = True
    maps = {"a": np.random.default_rng(0).random((n, h, h)), "b": np.zeros((n, h, h))}
    fig = plotting.example_grid(images, masks, maps, {"a": "A", "b": "B"}, dpi=100)
    axes = fig.get_axes()
    assert len(axes) == n * (1 + len(maps))
    fig.canvas.draw()
    for ax in axes:
        box = ax.get_window_extent()
        # at least one figure pixel per map pixel: no downsampling
        assert box.height >= h - 1 and box.width >= h - 1
    with pytest.raises(ValueError, match="at least one"):
        plotting.example_grid(images[:0], masks[:0], maps, {})


def test_example_maps_cover_every_method_and_the_consistency_maps(two_models):
    import torch

    model, other, val = two_models
    images = val.get_batch(np.arange(2))["image"].float() / 255.0
    maps = comparison.example_maps(model, other, images, [0, 1], ["low_res_cam", "cam_guided"])
    assert list(maps) == ["low_res_cam", "cam_guided", *(
        comparison.consistency_name(m) for m in comparison.CONSISTENCY_METHODS)]  # fmt: skip
    for m in maps.values():
        assert m.shape == (2, 32, 32) and np.isfinite(m).all()
    assert isinstance(images, torch.Tensor)


def test_consistency_network_as_a_source_of_the_ablation(two_models):
    from hrcam.studies import evaluate_sources

    model, other, val = two_models
    kw = {"limit": 6, "batch_size": 4, "n_boot": 50, "progress": False, "box_metrics": False}
    study = evaluate_sources(model, val, sources=["expansion", "noise"],
                             high_res_models={"consistency": other}, **kw)  # fmt: skip
    assert study.config["sources"] == ["expansion", "noise", "consistency"]
    assert {"paper@consistency", "reference@consistency", "raw@consistency"} <= set(study.methods)
    # The new source's rows are exactly what the other model's own expansion source gives.
    alone = evaluate_sources(other, val, sources=["expansion"], **kw)
    for preset in ("raw", "paper", "reference"):
        ours = [r["image_ap"] for r in study.per_image if r["method"] == f"{preset}@consistency"]
        theirs = [r["image_ap"] for r in alone.per_image if r["method"] == f"{preset}@expansion"]
        assert ours == pytest.approx(theirs)
    assert "max_box_acc_v2" not in {r["metric"] for r in study.table}
    with pytest.raises(ValueError, match="built-in source"):
        evaluate_sources(model, val, high_res_models={"noise": other}, **kw)


def test_ablation_refuses_a_model_on_another_classifier(two_models):
    import torch

    from hrcam.models import HRCAM, build_classifier, build_expansion
    from hrcam.studies import evaluate_sources

    model, _, val = two_models
    torch.manual_seed(7)
    clf = build_classifier("densenet_compact", num_classes=3)
    stranger = HRCAM(clf, build_expansion(clf, image_size=32)).eval()
    with pytest.raises(ValueError, match="does not share the model's classifier"):
        evaluate_sources(model, val, sources=["expansion"], limit=4, batch_size=4, n_boot=20,
                         progress=False, high_res_models={"other": stranger})  # fmt: skip


def test_claims_read_the_pages_values(tmp_path):
    from hrcam.studies.claims import beyond_values

    out = tmp_path / "beyond"
    comparison.save_values({"weight": 1.0, "statement": "x", "gone": float("nan")}, out)
    values = beyond_values(tmp_path)
    assert values["beyond_weight"] == 1.0 and values["beyond_statement"] == "x"
    assert np.isnan(values["beyond_gone"])
    with pytest.raises(FileNotFoundError, match="09_beyond_the_paper"):
        beyond_values(tmp_path / "empty")


def test_variant_text_names_wins_and_losses():
    rows = [
        {"variant": "thin_parts", "config": "paper", "source": "consistency",
         "vs_paper_low": 0.01, "vs_paper_high": 0.05},
        {"variant": "default", "config": "reference", "source": "consistency",
         "vs_paper_low": -0.05, "vs_paper_high": -0.01},
        {"variant": "default", "config": "paper", "source": "expansion"},
    ]  # fmt: skip
    text = consistency.variant_text(rows)
    assert "on: thin_parts (paper);" in text and "loses on: default (reference)" in text
    assert consistency.variant_text([]) == ""


def test_paired_mean_ci_uses_only_the_images_both_methods_score():
    from hrcam.metrics.statistics import bootstrap_mean_ci, paired_mean_ci

    a = {0: 0.9, 1: 0.5, 3: 0.7, 4: 0.2}
    b = {1: 0.4, 3: 0.1, 4: 0.3, 7: 1.0}
    n, *ci = paired_mean_ci(a, b, n_boot=200, seed=3)
    assert n == 3
    assert ci == pytest.approx(bootstrap_mean_ci([0.1, 0.6, -0.1], 200, 3))
    assert paired_mean_ci({0: 1.0}, {1: 1.0})[0] == 0
    assert all(np.isnan(paired_mean_ci({0: 1.0}, {1: 1.0})[1:]))


def test_to_markdown_prints_the_table_as_before():
    """Byte for byte what Comparison.to_markdown printed before it shared evaluate's report
    helpers: one/three decimals by metric, ``(n=..)`` when partial, ``–`` when missing, and a
    NaN row shown as NaN (not hidden as in the evaluation report)."""
    nan = float("nan")

    def row(method, metric, mean, lo, hi, n):
        return {"method": method, "metric": metric, "mean": mean, "ci_low": lo, "ci_high": hi,
                "n": n}  # fmt: skip

    comp = Comparison(
        methods=["low_res_cam", "mine"],
        labels={"low_res_cam": "Low-res CAM"},
        table=[
            row("low_res_cam", "pxap", 0.61234, 0.5, 0.70049, 4),
            row("low_res_cam", "runtime_ms", 12.345, 11.0, 13.96, 2),
            row("mine", "pxap", 0.4, 0.35, 0.45, 3),
            row("mine", "mask_iou", nan, nan, nan, 0),
            row("mine", "average_drop", 25.04, 20.0, 30.5, 4),
        ],
        per_image=[],
        config={"num_images": 4},
    )
    intro = (
        "4 validation images; PxAP as Choe et al. define it (pixel counts summed over the "
        "images); 95% CI: percentile bootstrap over images "
        "(1000 resamples).\n\n"
    )
    assert comp.to_markdown() == intro + (
        "| Method | Pointing game | Energy pointing game | PxAP | Mask IoU (best shared t) | "
        "MaxBoxAccV2 | Runtime ms/image |\n"
        "|---|---|---|---|---|---|---|\n"
        "| Low-res CAM | – | – | 0.612 [0.500, 0.700] | – | – | 12.3 [11.0, 14.0] |\n"
        "| mine | – | – | 0.400 [0.350, 0.450] (n=3) | nan [nan, nan] (n=0) | – | – |\n"
    )
    assert comp.to_markdown(metrics=("pxap", "mask_iou", "average_drop")) == intro + (
        "| Method | PxAP | Mask IoU (best shared t) | Average drop % (lower better) |\n"
        "|---|---|---|---|\n"
        "| Low-res CAM | 0.612 [0.500, 0.700] | – | – |\n"
        "| mine | 0.400 [0.350, 0.450] (n=3) | nan [nan, nan] (n=0) | 25.0 [20.0, 30.5] |\n"
    )
