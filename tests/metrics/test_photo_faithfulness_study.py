"""The photo-faithfulness study's tables and verdicts, on hand-made scores."""

import numpy as np

from hrcam.metrics.sanity import RandomizationCurves
from hrcam.studies import photo_faithfulness as pf


def test_verdicts_follow_the_threshold_and_name_every_method():
    n = 20
    sims = {
        "kept": {"spearman": np.full((2, n), 0.95), "ssim": np.full((2, n), 0.9)},
        "changed": {"spearman": np.full((2, n), 0.05), "ssim": np.full((2, n), 0.1)},
        "between": {"spearman": np.stack([np.full(n, 0.5), np.linspace(0.0, 1.0, n)])},
    }
    for v in sims.values():
        v["spearman_abs"] = v["spearman"]
    curves = RandomizationCurves(("FC", "conv_head"), sims)
    logit = {"kept": {"ssim": np.full(n, 0.9)}}
    verdicts, text = pf.sanity_verdicts(curves, logit, {"kept": "Kept"}, seed=0)
    assert verdicts == {"kept": "fails", "changed": "passes", "between": "undecided"}
    assert "**Kept** fails" in text and "random-logit SSIM 0.90" in text
    assert "(pass: changed)" in text and "(fail: Kept)" in text


def test_faithfulness_text_pairs_with_the_low_res_cam():
    base = np.linspace(0.2, 0.4, 30)
    scores = {
        "low_res_cam": {"adcc": base},
        "better": {"adcc": base + 0.1},
        "same": {"adcc": base + np.where(np.arange(30) % 2, 0.05, -0.05)},
    }
    text = pf.faithfulness_text(scores, {"better": "B"}, seed=0)
    assert text.startswith("Highest mean ADCC: B (40.0 %).")
    assert "B +10.0 [+10.0, +10.0] (better)" in text
    assert "same +0.0" in text and "(no clear difference)" in text
    table, values = pf.faithfulness_table(
        {"low_res_cam": {"drop": np.array([0.2, 0.4]), "adcc": base[:2]}}, {}, seed=0
    )
    assert abs(values["low_res_cam.drop"][0] - 30.0) < 1e-9
    assert "| low_res_cam | 30.0 [" in table and table.count("–") == 6


def test_one_photo_gets_no_verdict():
    curves = RandomizationCurves(("FC",), {"m": {"spearman": np.array([[0.99]])}})
    verdicts, _ = pf.sanity_verdicts(curves, {}, {}, seed=0)
    assert verdicts == {"m": "undecided"}
    scores = {"low_res_cam": {"adcc": np.array([0.3])}, "m": {"adcc": np.array([0.5])}}
    assert "(one photo, no interval)" in pf.faithfulness_text(scores, {}, seed=0)
