"""Learning curves of the learned maps: the doubling schedule, snapshots, and what the pages say."""

import math

import pytest

from hrcam.studies.learned_maps import measured_expansion, scale_text
from hrcam.studies.learning import (
    curve_steps,
    curve_summary,
    seed_caveat,
    seed_caveats,
    seed_spread_text,
)
from hrcam.train.callbacks import SnapshotAt, doubling_steps


def test_images_seen_double_from_point_to_point():
    assert doubling_steps(5, 7) == [5, 10, 20, 40, 80, 160, 320]
    assert [s * 8 for s in curve_steps(40, 7, 8)] == [40 * 2**i for i in range(7)]
    with pytest.raises(ValueError, match="multiple of batch_size"):
        curve_steps(30, 3, 8)
    with pytest.raises(ValueError, match="positive"):
        doubling_steps(0, 3)


def test_snapshots_are_taken_at_the_steps_and_not_rewritten(tmp_path):
    saved = []

    class Task:
        def save(self, path, extra):
            path.write_text("x")
            saved.append((path.name, extra))

    class Loop:
        task = Task()

        class state:
            global_step = 0

    callback = SnapshotAt([2, 4], tmp_path / "snaps", batch_size=8)
    loop = Loop()
    for step in range(1, 6):
        loop.state.global_step = step
        callback.on_step_end(loop)
    callback.on_step_end(loop)  # a resumed run passing step 4 again writes nothing
    loop.state.global_step = 4
    callback.on_step_end(loop)
    assert saved == [
        ("step_000002.pt", {"images_seen": 16, "step": 2}),
        ("step_000004.pt", {"images_seen": 32, "step": 4}),
    ]


def _point(seen, high, diff):
    return {"images_seen": seen, "val_psnr": 20.0, "high_res_cam_pxap": {"mean": high},
            "refined_paper_minus_low_res": {"difference": diff, "ci_low": diff - 0.1,
                                            "ci_high": diff + 0.1}}  # fmt: skip


def test_the_curve_summary_applies_the_stopping_rule():
    seeds = [_point(40, m, d) for m, d in ((0.10, -0.02), (0.12, 0.01), (0.11, -0.01))]
    card = {"curve": [_point(40, 0.10, -0.02), _point(80, 0.15, -0.03)], "seeds": seeds}
    text = curve_summary(card)
    # Moved by 0.05, the seeds' standard deviation is 0.01: still learning.
    assert "+0.050" in text and "0.010" in text and "still learning" in text
    card["curve"][-1] = _point(80, 0.105, -0.02)
    assert "no longer changes the answer" in curve_summary(card)
    spread = seed_spread_text(card, {"refined_paper_minus_low_res": "refined minus low-res"})
    assert "-0.020, +0.010, -0.010" in spread and "the sign differs between seeds" in spread
    assert "cannot be judged converged" in curve_summary({"curve": card["curve"], "seeds": []})


def test_the_spread_at_the_largest_scale_judges_and_every_scale_is_listed():
    small = [_point(40, m, d) for m, d in ((0.10, -0.02), (0.30, 0.01), (0.20, -0.01))]
    large = [_point(80, m, d) for m, d in ((0.10, 0.02), (0.11, 0.03), (0.12, 0.04))]
    card = {"curve": [_point(40, 0.10, -0.02), _point(80, 0.15, 0.02)], "seeds": large + small}
    # Moved by 0.05: within the spread at 40 images (0.1), not within the one at 80 (0.01).
    text = curve_summary(card)
    assert "3 training seeds at 80 images" in text and "0.010" in text
    assert "still learning" in text
    spread = seed_spread_text(card, {"refined_paper_minus_low_res": "refined minus low-res"})
    first, second = spread.split(". Across ")
    assert "at 40 images seen" in first and "the sign differs between seeds" in first
    assert "at 80 images seen" in second and "+0.020, +0.030, +0.040" in second
    assert "sign differs" not in second


def test_the_scale_sentence_names_images_units_and_training():
    text = scale_text(48, 26, "stamps", {
        "expansion network": {"source": "shipped", "images_seen": 2560, "val_psnr": 21.34},
        "learned JBU": {"source": "retrained", "images_seen": 4, "val_loss": 0.5},
        "other": None})  # fmt: skip
    assert text.startswith("48 images scored, 26 independent stamps")
    assert "expansion network (shipped): 2,560 training images seen, val PSNR 21.3 dB" in text
    assert "learned JBU (retrained): 4 training images seen, validation loss 0.500" in text
    assert "other: how long it was trained is not recorded" in text


def test_an_unknown_learned_maps_value_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"'shipped'.*'retrain'"):
        measured_expansion("newest", None, None, 8)


def test_the_learning_curve_figure_draws_both_kinds_of_curve():
    from hrcam.plotting import learning_curve_figure

    jbu = [{"images_seen": s, "val_loss": 1 / s,
            "featup_jbu_minus_low_res": {"difference": 0.0, "ci_low": -0.1, "ci_high": 0.1}}
           for s in (4, 8)]  # fmt: skip
    fig = learning_curve_figure({"expansion": [_point(40, 0.1, 0.0), _point(80, 0.2, 0.1)],
                                 "jbu": jbu})  # fmt: skip
    axes = fig.get_axes()
    assert len(axes) == 5  # 2 rows x 2 panels, plus the PxAP twin axis of the expansion row
    assert all(ax.get_xscale() == "log" for ax in axes[:2])
    assert not math.isnan(axes[0].lines[0].get_ydata()[0])


@pytest.mark.slow
def test_a_curve_point_scores_a_snapshot_on_stamps(tmp_path):
    from hrcam.data import build_dataset
    from hrcam.data.cutouts import missing_cutout_packages
    from hrcam.models import save_checkpoint
    from hrcam.models.lite0 import efficientnet_lite0
    from hrcam.models.shipped import load_shipped
    from hrcam.studies.learning import curve_point

    if missing_cutout_packages():
        pytest.skip(f"needs the Debian packages {missing_cutout_packages()} (make photos)")
    store = build_dataset("cutouts", tmp_path / "store", num_train=2, num_val=6, image_size=96,
                          seed=0, progress=False).info  # fmt: skip
    model = load_shipped("lite0_expansion", efficientnet_lite0().eval())
    snapshot = save_checkpoint(tmp_path / "step_000005.pt", model, metadata={},
                               extra={"images_seen": 40, "step": 5})  # fmt: skip
    point = curve_point(snapshot, store.root, eval_images=6, out_dir=tmp_path / "eval")
    assert (point["images_seen"], point["step"], point["images"]) == (40, 5, 6)
    assert 1 <= point["stamps"] <= 6 and point["val_psnr"] > 10
    for key in ("refined_paper_minus_low_res", "refined_reference_minus_low_res"):
        d = point[key]
        assert d["ci_low"] <= d["difference"] <= d["ci_high"]
    assert 0 <= point["high_res_cam_pxap"]["mean"] <= 1


def test_a_verdict_whose_sign_differs_between_seeds_says_so():
    small = [_point(40, 0.1, d) for d in (0.05, 0.06, 0.07)]
    large = [_point(80, 0.1, d) for d in (-0.02, 0.01, 0.03)]
    card, key = {"seeds": small + large}, "refined_paper_minus_low_res"
    text = seed_caveat(card, key, "Refined minus low-res")
    assert text.startswith("Refined minus low-res: its sign differs between 3 training seeds")
    assert "80 images seen" in text and "-0.020, +0.010, +0.030" in text
    assert text.endswith("does not settle it.")
    # The largest scale decides: the same sign there, no caveat.
    steady = {"seeds": large + [_point(160, 0.1, d) for d in (0.01, 0.02)]}
    assert seed_caveat(steady, key, "x") == seed_caveat({"seeds": []}, key, "x") == ""
    # A page says it for the shipped maps it measured only.
    assert seed_caveats([(card, key, "Refined minus low-res", "shipped")]) == text
    assert "same sign for every training seed" in seed_caveats([(steady, key, "x", "shipped")])
    assert "trained by this run" in seed_caveats([(card, key, "x", "retrained")])
