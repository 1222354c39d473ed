"""The upsampler comparison (notebook 11): inputs, extra sources, ranking and values."""

import pytest

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
    from hrcam.methods import compute_cams
    from hrcam.models import load_checkpoint
    from hrcam.studies import refine_study
    from hrcam.studies.refine import PRESET_CONFIGS

    ckpt, store = tiny_run
    model = load_checkpoint(ckpt).model().eval()
    cams = compute_cams(model, StoreDataset(store, "val"), limit=6, target="label", progress=False)
    costs = add_method_sources(model, cams, ["cam_guided", "cam_jbu"], batch_size=4)
    assert set(cams.extra_high_res) == {"cam_guided", "cam_jbu"} and costs["cam_jbu"] > 0
    assert cams.extra_high_res["cam_jbu"].shape == cams.high_res.shape
    study = refine_study(cams, ["expansion", "cam_guided", "cam_jbu"],
                         {"paper": PRESET_CONFIGS["paper"]}, n_boot=50)  # fmt: skip
    ranked = rank_maps(study, "pxap", n_boot=50)
    values = [study.value(m, "pxap") for m in ranked["order"]]
    assert values == sorted(values, reverse=True)
    assert map_label(ranked["best"]) in ranked["text"] and f"{values[0]:.3f}" in ranked["text"]
    # 6 images: a lead tested on 3 is not judged (fewer than 10 independent units).
    assert "too few to judge" in ranked["text"] and ranked["paired"] is None
    box = rank_maps(study, "max_box_acc_v2", n_boot=50)
    # MaxBoxAccV2 is paired the same way (no comparison of two intervals).
    assert "too few to judge" in box["text"] and box["paired"] is None
    table = upsampler_table(study, {**costs, "expansion": 1.0, "post-processing": 2.0})
    assert table.count("\n") == len(study.methods) + 1
    named = upsampler_values(study, costs, {"expansion": 3.0, "featup_jbu": 4.0})
    assert named["raw_cam_jbu_pxap_mean"] == study.value("raw@cam_jbu", "pxap")
    assert named["train_s_featup_jbu"] == 4.0 and named["num_images"] == 6


def test_one_image_gets_values_without_intervals(tiny_run):
    """SESS on the demo's one image: a bootstrap over one image has zero width; none is shown."""
    from hrcam.data.store import StoreDataset
    from hrcam.methods import compute_cams
    from hrcam.models import load_checkpoint
    from hrcam.studies import refine_study
    from hrcam.studies.refine import PRESET_CONFIGS

    ckpt, store = tiny_run
    model = load_checkpoint(ckpt).model().eval()
    val = StoreDataset(store, "val")
    tables = {}
    for n in (1, 2):
        cams = compute_cams(model, val, limit=n, target="label", progress=False)
        add_method_sources(model, cams, ["cam_guided"], batch_size=2)
        study = refine_study(cams, ["expansion", "cam_guided"],
                             {"paper": PRESET_CONFIGS["paper"]}, n_boot=50)  # fmt: skip
        tables[n] = upsampler_table(study, {"post-processing": 1.0})
    assert "[" not in tables[1] and "From 1 image: values only" in tables[1]
    assert "[" in tables[2] and "values only" not in tables[2]
