"""hrcam.evaluate: records match the metrics, CIs, §5 split, caps, output files."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from hrcam import metrics
from hrcam.evaluate import evaluate, evaluate_checkpoint
from hrcam.metrics import bootstrap_mean_ci


@pytest.fixture(scope="module")
def loaded(tiny_run):
    from hrcam.data.store import StoreDataset
    from hrcam.models import load_checkpoint

    ckpt, store = tiny_run
    return load_checkpoint(ckpt).model().eval(), StoreDataset(store, "val")


@pytest.fixture(scope="module")
def result(loaded):
    model, ds = loaded
    return evaluate(
        model, ds, methods=["low_res_cam", "refined_paper", "gradcam"], limit=5, batch_size=4,
        faithfulness_limit=1, deletion_steps=2, n_boot=200, progress=False,
    )  # fmt: skip


def test_bootstrap_ci_behaves_like_a_normal_interval():
    rng = np.random.default_rng(0)
    values = rng.normal(2.0, 1.0, size=400)
    mean, low, high = bootstrap_mean_ci(values, n_boot=2000, seed=1)
    assert mean == pytest.approx(values.mean())
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert low == pytest.approx(mean - half, abs=0.25 * half)
    assert high == pytest.approx(mean + half, abs=0.25 * half)
    assert bootstrap_mean_ci([0.3, 0.3, 0.3]) == pytest.approx((0.3, 0.3, 0.3))
    assert all(np.isnan(bootstrap_mean_ci([])))


def test_records_match_metrics_on_the_kept_maps(result, loaded):
    _, ds = loaded
    assert len(result.per_image) == 5 * 3
    ex = result.examples
    np.testing.assert_array_equal(ex["index"], np.arange(5))
    for rec in result.per_image:
        cam = ex["maps"][rec["method"]][rec["index"]].astype(np.float32)
        mask = ds[rec["index"]]["mask"].numpy()
        assert rec["pointing"] == pytest.approx(metrics.pointing_game(cam, mask), abs=1e-6)
        assert rec["image_ap"] == pytest.approx(metrics.image_ap(cam, mask), abs=2e-2)  # float16
        assert rec["target"] == rec["predicted"]
    refined = [r for r in result.per_image if r["method"] == "refined_paper"]
    assert all(isinstance(r["fallback"], bool) for r in refined)


def test_table_rows_are_consistent_with_curves(result, loaded):
    _, ds = loaded
    for row in result.table:
        if row["n"] > 1 and row["metric"] != "runtime_ms":
            assert row["ci_low"] - 1e-9 <= row["mean"] <= row["ci_high"] + 1e-9, row
    curves = result.curves["gradcam"]
    expected_box = metrics.max_box_acc(curves["box_iou"], curves["thresholds"]).value
    assert result.value("gradcam", "max_box_acc_v2") == pytest.approx(expected_box)
    assert result.value("gradcam", "mask_iou") == pytest.approx(curves["mask_iou"].mean(0).max())
    drops = [r for r in result.table if r["metric"] == "average_drop"]
    assert drops and all(r["n"] == 1 for r in drops)  # faithfulness cap
    per_method = [r for r in result.per_image if r["method"] == "low_res_cam"]
    assert len(per_method) == 5
    # PxAP is the data-set statistic of the kept maps (float16: a small tolerance).
    maps = result.examples["maps"]["low_res_cam"].astype(np.float32)
    masks = [ds[int(i)]["mask"].numpy() for i in result.examples["index"]]
    assert result.value("low_res_cam", "pxap") == pytest.approx(
        metrics.dataset_pxap(list(maps), masks), abs=2e-2
    )


def test_section5_split_follows_low_res_pointing(result):
    low = {r["index"]: r["pointing"] for r in result.per_image if r["method"] == "low_res_cam"}
    misses = sum(v < 0.5 for v in low.values())
    rows = [r for r in result.section5
            if r["method"] == "refined_paper" and r["metric"] == "image_ap"]  # fmt: skip
    by_subset = {r["subset"]: r for r in rows}
    assert by_subset["low-res miss"]["n"] == misses
    assert by_subset["low-res hit"]["n"] == len(low) - misses
    for r in rows:
        if r["n"]:
            assert r["difference"] == pytest.approx(r["method_mean"] - r["low_res_mean"])


def test_save_writes_tables(result, tmp_path):
    paths = result.save(tmp_path)
    with paths["table"].open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["method"] for r in rows} == {"low_res_cam", "refined_paper", "gradcam"}
    assert {"mean", "ci_low", "ci_high", "n"} <= set(rows[0])
    report = paths["report"].read_text()
    assert "Refined CAM (paper)" in report and "§5" in report and "bootstrap" in report
    assert paths["per_image"].exists() and paths["curves"].exists()


@pytest.mark.slow
def test_score_cam_cap_and_label_target(tiny_run):
    ckpt, store = tiny_run
    res = evaluate_checkpoint(
        ckpt, store, methods=["low_res_cam", "scorecam"], limit=4, batch_size=4,
        target="label", score_cam_limit=2, faithfulness_limit=0, n_boot=50, progress=False,
    )  # fmt: skip
    counts = {r["method"]: r["n"] for r in res.table if r["metric"] == "pxap"}
    assert counts == {"low_res_cam": 4, "scorecam": 2}
    assert all(r["target"] == r["label"] for r in res.per_image)
    assert not any(r["metric"] == "average_drop" for r in res.table)


def test_road_is_opt_in_and_capped(loaded, result):
    assert not any(r["metric"] == "road_combined" for r in result.table)  # off by default
    model, ds = loaded
    res = evaluate(
        model, ds, methods=["low_res_cam", "gradcam"], limit=3, batch_size=4,
        faithfulness_limit=0, road_limit=2, road_percentiles=(50,), n_boot=50, progress=False,
    )  # fmt: skip
    counts = {r["method"]: r["n"] for r in res.table if r["metric"] == "road_combined"}
    assert counts == {"low_res_cam": 2, "gradcam": 2}
    for r in res.per_image:
        if r["index"] < 2:
            assert np.isfinite(r["road_morf"]) and np.isfinite(r["road_lerf"])
            assert r["road_combined"] == pytest.approx((r["road_lerf"] - r["road_morf"]) / 2)
        else:
            assert np.isnan(r["road_combined"])
    assert "ROAD combined" in res.to_markdown() and "ROAD on the first 2" in res.to_markdown()


def test_bad_arguments_are_named(loaded):
    model, ds = loaded
    with pytest.raises(ValueError, match="target"):
        evaluate(model, ds, target="truth", progress=False)
    with pytest.raises(ValueError, match="limit"):
        evaluate(model, ds, limit=0, progress=False)
    with pytest.raises(ValueError, match="road_limit"):
        evaluate(model, ds, road_limit=-1, progress=False)
    with pytest.raises(ValueError, match="unknown method"):
        evaluate(model, ds, methods=["rise"], progress=False)
    no_masks = [{"image": ds[0]["image"].numpy(), "label": 0}]
    with pytest.raises(ValueError, match="mask"):
        evaluate(model, no_masks, methods=["low_res_cam"], progress=False)


def test_plots_draw_bars_with_cis_and_examples(result):
    import matplotlib.pyplot as plt

    from hrcam.plotting.evaluation import metric_bars, win_fail_examples

    fig = metric_bars(result, title="tiny")
    bars = [p for p in fig.axes[0].patches]
    assert len(bars) == 3 * 5  # methods x localization metrics
    heights = sorted(b.get_height() for b in bars)
    expected = sorted(result.value(m, k) for m in result.methods
                      for k in ("pointing", "energy_pointing", "pxap", "mask_iou",
                                "max_box_acc_v2"))  # fmt: skip
    np.testing.assert_allclose(heights, expected)
    plt.close(fig)
    fig = win_fail_examples(result, "image_ap", count=1)
    assert len(fig.axes) == 3 * 2
    best = max(r["image_ap"] for r in result.per_image if r["method"] == "low_res_cam")
    assert fig.axes[0].get_title().endswith(f"{best:.2f}")
    plt.close(fig)
    with pytest.raises(ValueError, match="none of the requested metrics"):
        metric_bars(result, ["bogus"])
