"""The upsampler comparison (notebook 11): inputs, extra sources, ranking and values."""

import re

import pytest

from hrcam.evaluate.statistics import MIN_VERDICT_UNITS, TOO_FEW_TO_JUDGE
from hrcam.studies.upsamplers import (
    add_method_sources,
    map_label,
    rank_maps,
    sess_forward_passes,
    upsampler_inputs,
    upsampler_table,
    upsampler_values,
)


def test_inputs_prefer_the_cutouts_then_the_synthetic_run_then_none(tmp_path):
    assert upsampler_inputs(tmp_path) is None
    for part in ("data", "classifier", "expansion"):
        (tmp_path / part).mkdir()
    (tmp_path / "classifier" / "best.pt").write_bytes(b"")
    (tmp_path / "expansion" / "best.pt").write_bytes(b"")
    assert upsampler_inputs(tmp_path).data == "synthetic scenes"
    (tmp_path / "cutouts").mkdir()
    assert upsampler_inputs(tmp_path).data == "synthetic scenes"  # chapter not finished
    (tmp_path / "cutouts" / "values.json").write_text("{}")
    found = upsampler_inputs(tmp_path)
    assert found.data == "real cut-outs" and found.store == tmp_path / "cutouts" / "store"


def test_sess_cost_is_counted_from_its_windows():
    counted = sess_forward_passes(96)
    assert counted["windows"] > 100  # 12 scales of non-overlapping windows
    assert counted["forward_passes"] == pytest.approx(3.5 * counted["windows"])


def test_the_comparison_ranks_and_names_what_it_measured(tiny_run):
    from hrcam.data.store import StoreDataset
    from hrcam.models import load_checkpoint
    from hrcam.studies import compute_cams, refine_study
    from hrcam.studies.refine import PRESET_CONFIGS

    ckpt, store = tiny_run
    model = load_checkpoint(ckpt).model().eval()
    cams = compute_cams(model, StoreDataset(store, "val"), limit=6, target="label", progress=False)
    costs = add_method_sources(model, cams, ["cam_guided", "cam_jbu"], batch_size=4)
    assert set(cams.extra_high_res) == {"cam_guided", "cam_jbu"} and costs["cam_jbu"] > 0
    assert cams.extra_high_res["cam_jbu"].shape == cams.high_res.shape
    study = refine_study(cams, ["expansion", "cam_guided", "cam_jbu"],
                         {"paper": PRESET_CONFIGS["paper"]}, n_boot=50)  # fmt: skip
    # Six images are fewer than a ranking may rest on: the order is kept, no best is named.
    ranked = rank_maps(study, "pxap", n_boot=50)
    values = [study.value(m, "pxap") for m in ranked["order"]]
    assert values == sorted(values, reverse=True)
    assert ranked["best"] is None and ranked["paired"] is None
    assert TOO_FEW_TO_JUDGE in ranked["text"] and "6 images" in ranked["text"]
    table = upsampler_table(study, {**costs, "expansion": 1.0, "post-processing": 2.0})
    assert table.count("\n") == len(study.methods) + 1
    assert re.search(r"\| \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] \|", table)  # intervals from 6
    named = upsampler_values(study, costs, {"expansion": 3.0, "featup_jbu": 4.0})
    assert named["raw_cam_jbu_pxap_mean"] == study.value("raw@cam_jbu", "pxap")
    assert named["train_s_featup_jbu"] == 4.0 and named["num_images"] == 6


def _study_on(model, store, limit):
    from hrcam.data.store import StoreDataset
    from hrcam.studies import compute_cams, refine_study
    from hrcam.studies.refine import PRESET_CONFIGS

    cams = compute_cams(model, StoreDataset(store, "val"), limit=limit, target="label",
                        progress=False)  # fmt: skip
    add_method_sources(model, cams, ["cam_guided"], batch_size=8)
    study = refine_study(cams, ["expansion", "cam_guided"], {"paper": PRESET_CONFIGS["paper"]},
                         n_boot=50)  # fmt: skip
    return study


def test_enough_images_are_ranked_and_one_image_gets_no_interval(tiny_run, tmp_path):
    from hrcam.data.synthetic import generate_synthetic
    from hrcam.models import load_checkpoint

    ckpt, _ = tiny_run
    model = load_checkpoint(ckpt).model().eval()
    store = tmp_path / "store"
    n = MIN_VERDICT_UNITS
    generate_synthetic(store, num_train=1, num_val=n, image_size=32, seed=1, num_classes=3,
                       num_workers=0)  # fmt: skip
    study = _study_on(model, store, n)
    ranked = rank_maps(study, "pxap", n_boot=50)
    values = [study.value(m, "pxap") for m in ranked["order"]]
    assert map_label(ranked["best"]) in ranked["text"] and f"{values[0]:.3f}" in ranked["text"]
    assert "paired difference" in ranked["text"] and f"over {n} images" in ranked["text"]
    box = rank_maps(study, "max_box_acc_v2", n_boot=50)
    assert "intervals" in box["text"] and box["paired"] is None

    one = upsampler_table(_study_on(model, store, 1), {"post-processing": 1.0})
    assert "[" not in one and "From 1 image: values only" in one
