"""The photo-faithfulness study's tables and verdicts, on hand-made scores and maps."""

import numpy as np
import pytest

from hrcam.metrics.sanity import RandomizationCurves
from hrcam.metrics.statistics import MIN_VERDICT_UNITS, TOO_FEW_TO_JUDGE
from hrcam.studies import photo_faithfulness as pf

N = MIN_VERDICT_UNITS + 2
ALL = ("FC", "conv_head", "block 6", "stem")  # a four-block classifier, for the tests


def _maps(n: int = N, seed: int = 0) -> np.ndarray:
    """Maps of ``n`` different images: independent noise, so the null sits near 0."""
    return np.random.default_rng(seed).random((n, 8, 8))


def _case(n: int = N, steps=ALL):
    """Three methods whose last-step Spearman is known: kept (0.95), changed (0.0), between.

    ``between`` has a CI that straddles its null's 95th percentile (computed from the maps).
    """
    from hrcam.metrics import null_similarity

    maps = {m: _maps(n, seed) for seed, m in enumerate(("kept", "changed", "between"))}
    q = float(np.quantile(null_similarity(maps["between"]), 0.95)) if n >= 2 else 0.0
    spread = np.where(np.arange(n) % 2, q + 0.3, q - 0.3)
    last = {"kept": np.full(n, 0.95), "changed": np.zeros(n), "between": spread}
    sims = {
        m: {
            "spearman": np.stack([np.ones(n)] * (len(steps) - 1) + [v]),
            "ssim": np.ones((len(steps), n)),
        }
        for m, v in last.items()
    }
    curves = RandomizationCurves(tuple(steps), sims, tuple(steps))
    logit = {
        "kept": {"spearman": np.full(n, 0.99), "ssim": np.full(n, 0.9)},
        "changed": {"spearman": np.full(n, -0.2), "ssim": np.full(n, 0.1)},
        "between": {"spearman": spread, "ssim": np.full(n, 0.5)},
    }
    return curves, logit, maps


def test_verdicts_against_each_methods_null_count_every_method():
    curves, logit, maps = _case()
    out = pf.sanity_outcomes(curves, logit, maps, total_blocks=len(ALL), seed=0)
    assert {m: o.randomization.verdict for m, o in out.items()} == {
        "kept": "fails",
        "changed": "passes",
        "between": "undecided",
    }
    assert {m: o.random_logit.verdict for m, o in out.items()} == {
        "kept": "fails",
        "changed": "passes",
        "between": "undecided",
    }
    assert out["kept"].random_logit_ssim == pytest.approx(0.9)
    # The threshold is the null's 95th percentile of that method's own maps.
    from hrcam.metrics import null_similarity

    expected = np.quantile(null_similarity(maps["kept"]), 0.95)
    assert out["kept"].randomization.threshold == pytest.approx(expected)
    text = pf.sanity_statement(out, {"kept": "Kept"}, ALL, len(ALL))
    assert "all 4 blocks" in text and "down to stem" in text
    # Every method counted, the undecided one included (1 + 1 + 1 of 3).
    assert "1 of 3 methods changes its map (changed), 1 keeps it (Kept) and 1 is " in text
    assert "undecided (between)" in text
    assert "Random-logit test, the same null: 1 of 3 methods" in text
    table = pf.sanity_table(out, {"kept": "Kept"}, "stem")
    assert "| Kept | 0.95 [0.95, 0.95] |" in table and "| fails |" in table
    assert len(table.splitlines()) == 2 + len(out)


def test_a_partial_cascade_gets_no_verdict():
    curves, logit, maps = _case(steps=ALL[:2])
    out = pf.sanity_outcomes(curves, logit, maps, total_blocks=len(ALL), seed=0)
    assert {o.randomization.verdict for o in out.values()} == {pf.PARTIAL_CASCADE}
    assert out["kept"].random_logit.verdict == "fails"  # does not need the cascade
    text = pf.sanity_statement(out, {}, ALL[:2], len(ALL))
    assert "2 of its 4 blocks" in text and "No verdict on the cascading" in text
    assert "passes" not in text and "keep" not in text and "changes its" not in text


def test_counts_read_in_the_plural():
    curves, logit, maps = _case()
    curves.similarity["changed"]["spearman"][-1] = 0.95  # now two keep their maps
    out = pf.sanity_outcomes(curves, logit, maps, total_blocks=len(ALL), seed=0)
    text = pf.sanity_statement(out, {}, ALL, len(ALL))
    assert "0 of 3 methods change their maps, 2 keep them (kept, changed) and 1 is" in text


@pytest.mark.parametrize("n", [1, 2, MIN_VERDICT_UNITS - 1])
def test_too_few_photos_give_numbers_not_verdicts(n):
    curves, logit, maps = _case(n=n)
    out = pf.sanity_outcomes(curves, logit, maps, total_blocks=len(ALL), seed=0)
    verdicts = {o.randomization.verdict for o in out.values()}
    verdicts |= {o.random_logit.verdict for o in out.values()}
    assert verdicts == {TOO_FEW_TO_JUDGE}
    text = pf.sanity_statement(out, {}, ALL, len(ALL))
    assert TOO_FEW_TO_JUDGE in text and f"at least {MIN_VERDICT_UNITS} photos" in text
    for word in ("keep", "change", "undecided", "same map"):
        assert word not in text
    table = pf.sanity_table(out, {}, "stem")
    # One photo: no pair for a null, and no interval (a bootstrap of one has no width).
    assert ("[" not in table and "| – |" in table) if n == 1 else "[" in table


def test_faithfulness_text_pairs_with_the_low_res_cam():
    base = np.linspace(0.2, 0.4, 30)
    scores = {
        "low_res_cam": {"adcc": base},
        "better": {"adcc": base + 0.1},
        "same": {"adcc": base + np.where(np.arange(30) % 2, 0.05, -0.05)},
    }
    text = pf.faithfulness_text(scores, {"better": "B"}, seed=0)
    assert text.startswith("ADCC minus the low-res CAM's, in points (paired per photo; ")
    assert "for the 2 comparisons, each at 97.5 % (Bonferroni)" in text
    assert "B +10.0 [+10.0, +10.0] (better)" in text
    assert "same +0.0" in text and "(no clear difference)" in text
    assert "Highest" not in text and "best" not in text  # no pick-and-test ranking


def test_faithfulness_intervals_are_bonferroni_adjusted():
    """The interval of one comparison among m is the bootstrap's 1 - 0.05/m interval."""
    from hrcam.metrics.statistics import bootstrap_mean_ci

    rng = np.random.default_rng(0)
    base = rng.random(20)
    scores = {"low_res_cam": {"adcc": base}}
    for i in range(4):
        scores[f"m{i}"] = {"adcc": base + 0.02 * rng.standard_normal(20)}
    text = pf.faithfulness_text(scores, {}, seed=0)
    _, lo, hi = (100 * v for v in bootstrap_mean_ci(scores["m0"]["adcc"] - base, level=0.9875))
    assert f"m0 {100 * np.mean(scores['m0']['adcc'] - base):+.1f} [{lo:+.1f}, {hi:+.1f}]" in text
    _, lo95, hi95 = bootstrap_mean_ci(scores["m0"]["adcc"] - base)
    assert hi - lo > 100 * (hi95 - lo95)  # wider than the single 95 % interval


@pytest.mark.parametrize("n", [3, MIN_VERDICT_UNITS - 1])
def test_faithfulness_text_below_the_minimum_ranks_nothing(n):
    base = np.linspace(0.2, 0.4, n)
    scores = {"low_res_cam": {"adcc": base}, "m": {"adcc": base + 0.1}}
    text = pf.faithfulness_text(scores, {"m": "M"}, seed=0)
    assert text.startswith(f"On {n} photos, {TOO_FEW_TO_JUDGE}")
    assert "M +10.0 [+10.0, +10.0]" in text
    for word in ("better", "worse", "Highest", "no clear difference"):
        assert word not in text


def test_faithfulness_tables_split_in_two_with_every_metric():
    scores = {"low_res_cam": {"drop": np.array([0.2, 0.4]), "adcc": np.array([0.3, 0.5])}}
    tables, values = pf.faithfulness_tables(scores, {}, seed=0)
    assert len(tables) == 2
    assert abs(values["low_res_cam.drop"][0] - 30.0) < 1e-9
    assert "| low_res_cam | 30.0 [" in tables[0] and tables[0].count("–") == 3
    assert tables[1].count("–") == 3  # deletion, insertion and ROAD were not measured
    headers = [t.splitlines()[2] for t in tables]
    # Together the two hold the 8 metric columns; neither is wider than 6 columns.
    assert sum(h.count("|") - 2 for h in headers) == 8
    assert max(h.count("|") - 1 for h in headers) <= 6


def test_one_photo_gets_no_interval_and_no_verdict():
    scores = {"low_res_cam": {"adcc": np.array([0.3])}, "m": {"adcc": np.array([0.5])}}
    text = pf.faithfulness_text(scores, {}, seed=0)
    assert "m +20.0;" not in text and "m +20.0." in text and "[" not in text
    assert "one photo, no interval" in text
    tables, _ = pf.faithfulness_tables(scores, {}, seed=0)
    assert "| low_res_cam | – | – | 30.0 | – | – |" in tables[0]


def test_settings_and_skipped_tables_show_no_repr_and_no_path():
    cfg = {
        "profile": "demo",
        "run_dir": "/home/someone/runs/demo",
        "seed": None,
        "photo_images": None,
        "photo_skip_methods": ["sess"],
        "photo_installed_only": False,
    }
    table = pf.photo_settings_table(cfg)
    assert "/home/someone" not in table and "run_dir" not in table
    assert "| `photo_images` | all |" in table and "| `photo_skip_methods` | `sess` |" in table
    assert "| `photo_installed_only` | no |" in table and "| `seed` | default |" in table
    for repr_mark in ("{'", "None", "['", "False"):
        assert repr_mark not in table
    skipped = pf.skipped_table({"sess": "left out for cost in this profile"})
    assert skipped.splitlines()[2].endswith("(`sess`) | left out for cost in this profile |")
    assert pf.skipped_table({}) == "None: every method ran."


def test_attach_upsampler_says_why_not(tmp_path):
    model = object()
    same, note = pf.attach_upsampler(model, tmp_path, trained=False)
    assert same is model and "skipped that chapter" in note
    same, note = pf.attach_upsampler(model, tmp_path, trained=True)
    assert same is model and "did not run" in note


def test_attach_upsampler_uses_chapter_11s_when_trained_for_this_classifier(tmp_path):
    import torch

    from hrcam.methods import build_methods
    from hrcam.models import HRCAM, build_classifier, build_expansion
    from hrcam.models.jbu import build_upsampler, save_upsampler

    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    model = HRCAM(clf, build_expansion(clf, image_size=64)).eval()
    upsampler = build_upsampler(clf)
    upsampler.trained.fill_(True)
    path = tmp_path / "upsamplers" / "jbu" / "best.pt"
    path.parent.mkdir(parents=True)
    # As notebook 11 records it: the cut-out chapter's classifier, under another run folder.
    save_upsampler(path, upsampler, {"classifier_checkpoint": "/x/run/cutouts/lite0_classifier.pt"})
    carrier, note = pf.attach_upsampler(model, tmp_path, trained=True)
    assert note == "" and carrier.upsampler is not None
    assert "featup_jbu" in build_methods(carrier, ["featup_jbu"])
    # Trained on the synthetic run's classifier (no cut-out chapter): not this classifier's.
    save_upsampler(path, upsampler, {"classifier_checkpoint": "/x/run/classifier/best.pt"})
    same, note = pf.attach_upsampler(model, tmp_path, trained=True)
    assert same is model and "another classifier" in note
