"""Faithfulness and sanity checks of every method on untouched photographs of animals.

Notebook ``12_photo_faithfulness`` runs the wrapped EfficientNet-Lite0 with the expansion
network that notebook 10 trained on the reviewed photos (:mod:`hrcam.data.animal_photos`),
explains the predicted class, and measures each method the way the CAM-upsampler literature
does on photos without masks: average drop / increase (A.D., A.I.), ADCC, deletion and
insertion AUC, ROAD, and the sanity checks of Adebayo et al. (cascading randomization of the
classifier from the top, random logit).

**What is randomized.** Only the classifier's weights (:func:`lite0_blocks`: its FC head, then
``conv_head``, then the backbone's blocks from the top). The expansion network keeps its
trained weights: it is not part of the model being explained but of the explainer, trained to
reconstruct the image from the classifier's features. Its *input* does change, since it reads
the randomized classifier's skip features, and the high-res CAM applies the (randomized) FC
weights to its output; the refined maps grow regions from the randomized low-res CAM over
that high-res map. A map that survives this randomization follows the image, not the model.

**Verdicts.** Each sanity test judges a method against its own null, the Spearman correlation
between its maps of different photos (:func:`hrcam.metrics.judge_against_null`); the cascading
test only once every block of the classifier is randomized. Below
:data:`hrcam.metrics.statistics.MIN_VERDICT_UNITS` photos the page prints the numbers and
"too few to judge": no pass or fail, no better or worse, no ranking.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.core.tables import json_safe

__all__ = [
    "EXPANSION_METHODS",
    "FAITHFULNESS_TABLES",
    "PARTIAL_CASCADE",
    "SanityOutcome",
    "attach_upsampler",
    "faithfulness_scores",
    "faithfulness_tables",
    "faithfulness_text",
    "lite0_blocks",
    "load_photo_model",
    "measured_facts",
    "method_maps",
    "photo_settings_table",
    "photo_summary",
    "random_logit_similarity",
    "randomization_table",
    "sanity_outcomes",
    "sanity_statement",
    "sanity_table",
    "save_photo_values",
    "skipped_table",
]

_VALUES_FILE = "values.json"


#: Maps that read the expansion network: without notebook 10's, the page skips them.
EXPANSION_METHODS = ("high_res_cam", "refined_paper", "refined_reference")

#: The cut-out chapter's classifier checkpoint (in its stage folder), the one explained here.
_CUTOUT_CLF = "lite0_classifier.pt"

#: The faithfulness table in two parts that fit the page: (title, [(key, header, scale)]).
FAITHFULNESS_TABLES = (
    (
        "Confidence when the photo is masked by the map",
        [
            ("drop", "A.D. % ↓", 100),
            ("increase", "A.I. % ↑", 100),
            ("adcc", "ADCC % ↑", 100),
            ("coherency", "coherency % ↑", 100),
            ("complexity", "complexity % ↓", 100),
        ],
    ),
    (
        "Pixels deleted and inserted in the map's order",
        [
            ("deletion", "deletion AUC ↓", 1),
            ("insertion", "insertion AUC ↑", 1),
            ("road", "ROAD ↑", 1),
        ],
    ),
)


def load_photo_model(run_dir: str | os.PathLike) -> tuple[Any, bool]:
    """Load the ``HRCAM`` of notebook 10 (``RUN/cutouts/expansion/best.pt``) if it exists.

    Without it (the cut-out chapter was skipped), the wrapped EfficientNet-Lite0 with an
    untrained expansion network: the methods that do not read the expansion network run on
    it, :data:`EXPANSION_METHODS` must not.
    """
    from hrcam.models import HRCAM, load_checkpoint
    from hrcam.models.expansion import build_expansion
    from hrcam.models.lite0 import efficientnet_lite0

    # The model notebook 10 measured (shipped or retrained, by its learned_maps), else the
    # walk-through's network (a run folder from before measured.pt existed).
    cut = Path(run_dir) / "cutouts"
    path = cut / "measured.pt" if (cut / "measured.pt").is_file() else cut / "expansion" / "best.pt"
    if path.is_file():
        return load_checkpoint(path).model().eval(), True
    classifier = efficientnet_lite0().eval()
    network = build_expansion(classifier, classes=range(398), rank=1)  # a stub: never measured
    return HRCAM(classifier, network).eval(), False


def measured_facts(run_dir: str | os.PathLike) -> tuple[Any, Any]:
    """Return how long the measured expansion network and learned JBU were trained.

    Read from what notebooks 10 and 11 saved (``measured.pt``, ``measured_jbu.pt``); each is
    ``None`` when that chapter did not record it.
    """
    from hrcam.book.profiles import stage_dir
    from hrcam.studies.learned_maps import facts_of_checkpoint, facts_of_upsampler

    expansion = stage_dir(run_dir, "10_real_cutouts") / "measured.pt"
    jbu = stage_dir(run_dir, "11_upsamplers") / "measured_jbu.pt"
    return (
        facts_of_checkpoint(expansion) if expansion.is_file() else None,
        facts_of_upsampler(jbu) if jbu.is_file() else None,
    )


def attach_upsampler(model: Any, run_dir: str | os.PathLike, trained: bool) -> tuple[Any, str]:
    """Attach the learned JBU that the upsampler chapter (notebook 11) trained, if it fits.

    Notebook 11 trains it on the cut-out chapter's Lite0 classifier when that chapter ran, the
    classifier this chapter explains; it is then at ``RUN/upsamplers/jbu/best.pt`` and records
    the classifier checkpoint it was trained on (``RUN/cutouts/lite0_classifier.pt``).

    Returns
    -------
    (model, note)
        ``model`` carrying the upsampler and an empty note, or ``model`` unchanged and, in
        words, why ``featup_jbu`` cannot run on this page.
    """
    from hrcam.book.chapters import STAGE_DIRS
    from hrcam.book.profiles import stage_dir
    from hrcam.models.jbu import (
        UpsamplerError,
        load_upsampler,
        read_upsampler_payload,
        with_upsampler,
    )

    if not trained:
        return model, "needs the cut-out chapter's classifier, and this run skipped that chapter"
    # The JBU notebook 11 measured (shipped or retrained), else its walk-through's.
    stage = stage_dir(run_dir, "11_upsamplers")
    measured = stage / "measured_jbu.pt"
    path = measured if measured.is_file() else stage / "jbu" / "best.pt"
    if not path.is_file():
        return model, "needs the upsampler that the upsampler chapter trains, which did not run"
    try:
        extra = read_upsampler_payload(path).get("extra", {})
        # Compared by its last two parts: the run folder may have moved since.
        expected = (STAGE_DIRS["10_real_cutouts"], _CUTOUT_CLF)
        if Path(str(extra.get("classifier_checkpoint"))).parts[-2:] != expected:
            return model, "the upsampler chapter trained its upsampler for another classifier"
        return with_upsampler(model, load_upsampler(path, model.classifier)), ""
    except UpsamplerError:
        return model, "the upsampler chapter's upsampler does not fit this classifier"


def lite0_blocks(model: Any) -> list[tuple[str, list[str]]]:
    """List the wrapped EfficientNet-Lite0's blocks, top first, as paths in the ``HRCAM``.

    FC head; ``conv_head`` with its BatchNorm; the backbone's seven stages ``blocks.6`` ...
    ``blocks.0``; the stem (``conv_stem`` and its BatchNorm).

    Raises
    ------
    ValueError
        If ``model.classifier`` is not the wrapped timm EfficientNet-Lite0.
    """
    timm_model = getattr(getattr(model.classifier, "extractor", None), "model", None)
    if timm_model is None or not hasattr(timm_model, "conv_head"):
        raise ValueError("lite0_blocks needs an HRCAM whose classifier wraps timm's EfficientNet")
    root = "classifier.extractor.model"
    blocks = [("FC", ["classifier.fc"]), ("conv_head", [f"{root}.conv_head", f"{root}.bn2"])]
    for i in reversed(range(len(timm_model.blocks))):
        blocks.append((f"block {i}", [f"{root}.blocks.{i}"]))
    blocks.append(("stem", [f"{root}.conv_stem", f"{root}.bn1"]))
    return blocks


def method_maps(
    model: Any, methods: Sequence[str], images: Any, targets: Sequence[int]
) -> dict[str, np.ndarray]:
    """Compute every method's ``(B, H, W)`` maps, built afresh on ``model`` (randomized or not)."""
    from hrcam.methods import build_methods

    targets = [int(t) for t in targets]
    built = build_methods(model, list(methods), workers=1)
    return {name: np.asarray(fn(images, targets).maps, np.float32) for name, fn in built.items()}


def random_logit_similarity(
    model: Any,
    methods: Sequence[str],
    images: Any,
    maps: dict[str, np.ndarray],
    targets: Sequence[int],
    num_classes: int,
    seed: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """Similarity of each method's map for ``targets`` with its map for a random other class."""
    from hrcam.metrics import map_similarity, random_logit_targets

    others = random_logit_targets(targets, num_classes, seed)
    again = method_maps(model, methods, images, others)
    return {m: map_similarity(maps[m], again[m]) for m in methods}


def faithfulness_scores(
    model: Any,
    methods: Sequence[str],
    images: Any,
    targets: Sequence[int],
    maps: dict[str, np.ndarray],
    steps: int = 16,
    road_images: int = 1,
    seed: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """Per-image A.D., A.I., ADCC terms, deletion/insertion AUC and ROAD of every method.

    ROAD runs on the first ``road_images`` images only (it costs 8 sparse solves per image).
    """
    from hrcam.methods import build_methods, pixel_space_model
    from hrcam.metrics import adcc, deletion_insertion, road

    net = pixel_space_model(model.classifier)
    targets = [int(t) for t in targets]
    built = build_methods(model, list(methods), workers=1)
    out = {}
    for name in methods:

        def explain(x: Any, t: Sequence[int], fn: Any = built[name]) -> np.ndarray:
            return np.asarray(fn(x, [int(v) for v in t]).maps, np.float32)

        scores = adcc(net, explain, images, maps[name], targets)
        di = deletion_insertion(net, images, maps[name], targets, steps=steps, seed=seed)
        row = {
            "drop": scores.drop,
            "increase": scores.increase,
            "coherency": scores.coherency,
            "complexity": scores.complexity,
            "adcc": scores.adcc,
            "deletion": di.deletion_auc,
            "insertion": di.insertion_auc,
        }
        if road_images > 0:
            n = min(road_images, len(targets))
            row["road"] = road(net, images[:n], maps[name][:n], targets[:n], seed=seed).combined
        out[name] = row
    return out


def _ci(values: np.ndarray, seed: int, level: float = 0.95) -> tuple[float, float, float]:
    from hrcam.metrics.statistics import bootstrap_mean_ci

    return bootstrap_mean_ci(np.asarray(values, float), seed=seed, level=level)


def _cell(mean: float, lo: float, hi: float, n: int, digits: int, sign: str = "") -> str:
    """``mean [lo, hi]``; the mean alone from one photo, whose bootstrap has no width."""
    if n < 2:
        return f"{mean:{sign}.{digits}f}"
    return f"{mean:{sign}.{digits}f} [{lo:{sign}.{digits}f}, {hi:{sign}.{digits}f}]"


def faithfulness_tables(
    scores: dict[str, dict[str, np.ndarray]], labels: dict[str, str], seed: int = 0
) -> tuple[list[str], dict[str, Any]]:
    """Markdown tables (:data:`FAITHFULNESS_TABLES`) of means and 95 % CIs over photos.

    Returns
    -------
    (tables, values)
        One Markdown table per part, each headed by its title in bold, and the values by
        ``"method.metric"`` (``[mean, low, high]``). From one photo a cell holds the mean only.
    """
    values: dict[str, Any] = {}
    tables = []
    for title, cols in FAITHFULNESS_TABLES:
        lines = [
            f"**{title}**",
            "",
            "| Method | " + " | ".join(c[1] for c in cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        for name, row in scores.items():
            cells = []
            for key, _title, scale in cols:
                if key not in row:
                    cells.append("–")
                    continue
                mean, lo, hi = (scale * v for v in _ci(row[key], seed))
                values[f"{name}.{key}"] = [mean, lo, hi]
                cells.append(_cell(mean, lo, hi, len(row[key]), 1 if scale == 100 else 3))
            lines.append(f"| {labels.get(name, name)} | " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return tables, values


def faithfulness_text(
    scores: dict[str, dict[str, np.ndarray]], labels: dict[str, str], seed: int = 0
) -> str:
    """Compare each map's ADCC with the low-res CAM's, paired per photo, in one paragraph.

    Per method, the paired per-photo ADCC difference to the low-res CAM (the baseline, fixed
    before measuring) with a percentile-bootstrap CI. The intervals are simultaneous at 95 %:
    with ``m`` comparisons each is at ``1 - 0.05 / m`` (Bonferroni), so that the page's set of
    verdicts, not each one alone, errs at most 5 % of the time. "Better" or "worse" only where
    the whole interval lies on one side of 0 and the photos number at least
    :data:`~hrcam.metrics.statistics.MIN_VERDICT_UNITS`; below that the numbers come with
    "too few to judge". No method is named best: that would pick and test on the same photos.
    """
    from hrcam.metrics.statistics import MIN_VERDICT_UNITS, TOO_FEW_TO_JUDGE, can_judge

    n = len(next(iter(scores.values()))["adcc"])
    judged = can_judge(n)
    text = (
        ""
        if judged
        else f"On {n} photo{'s' if n != 1 else ''}, {TOO_FEW_TO_JUDGE}: a verdict or a ranking "
        f"needs at least {MIN_VERDICT_UNITS} photos; the numbers are given as measured. "
    )
    base = scores.get("low_res_cam")
    others = [m for m in scores if m != "low_res_cam"]
    if base is None or not others:
        return text.strip()
    level = 1.0 - 0.05 / len(others)
    parts = []
    for method in others:
        diff = scores[method]["adcc"] - base["adcc"]
        mean, lo, hi = (100 * v for v in _ci(diff, seed, level))
        cell = _cell(mean, lo, hi, n, 1, "+")
        if judged:
            word = "better" if lo > 0 else "worse" if hi < 0 else "no clear difference"
            cell += f" ({word})"
        parts.append(f"{labels.get(method, method)} {cell}")
    what = (
        f"paired per photo; simultaneous 95 % CIs for the {len(others)} comparisons, each at "
        f"{100 * level:.1f} % (Bonferroni)"
        if n >= 2
        else "one photo, no interval"
    )
    return text + f"ADCC minus the low-res CAM's, in points ({what}): " + "; ".join(parts) + "."


def randomization_table(curves: Any, measure: str = "spearman", seed: int = 0) -> dict[str, Any]:
    """Return ``{method: [[mean, lo, hi] per recorded step]}`` of one measure (CIs over photos)."""
    return {
        m: [list(_ci(step, seed)) for step in sims[measure]]
        for m, sims in curves.similarity.items()
    }


@dataclass(frozen=True)
class SanityOutcome:
    """Both sanity tests of one method, each judged against the method's null."""

    randomization: Any  # hrcam.metrics.NullVerdict of the last randomization step
    random_logit: Any  # hrcam.metrics.NullVerdict of the random-logit similarity
    random_logit_ssim: float  # mean SSIM with the random other class's map


#: The cascading test's verdict when the cascade stopped before the stem.
PARTIAL_CASCADE = "no verdict: not every block randomized"


def _judge(similarity: np.ndarray, null: np.ndarray | None, seed: int) -> Any:
    from hrcam.metrics import NullVerdict, judge_against_null
    from hrcam.metrics.statistics import TOO_FEW_TO_JUDGE

    if null is None:  # one photo: no pair of different photos, no null
        mean = float(np.mean(similarity))
        return NullVerdict(TOO_FEW_TO_JUDGE, mean, mean, mean, float("nan"), len(similarity))
    return judge_against_null(similarity, null, seed=seed)


def sanity_outcomes(
    curves: Any,
    random_logit: dict[str, dict[str, np.ndarray]],
    maps: dict[str, np.ndarray],
    total_blocks: int,
    seed: int = 0,
) -> dict[str, SanityOutcome]:
    """Judge every method's cascading and random-logit tests against its null.

    Parameters
    ----------
    curves : hrcam.metrics.RandomizationCurves
        The cascade; its last recorded step is judged.
    random_logit
        :func:`random_logit_similarity`'s output.
    maps
        The trained model's maps, ``{method: (B, H, W)}``: each method's null is the Spearman
        correlation between its maps of different photos (:func:`hrcam.metrics.null_similarity`).
    total_blocks
        How many blocks the classifier has: the cascading test is judged only when every one
        was randomized (else its verdict is :data:`PARTIAL_CASCADE`).
    seed
        Seed of the bootstrap over photos.
    """
    import dataclasses

    from hrcam.metrics import null_similarity

    randomized = len(curves.randomized or curves.steps)
    out = {}
    for method, sims in curves.similarity.items():
        null = null_similarity(maps[method]) if len(maps[method]) >= 2 else None
        cascade = _judge(sims["spearman"][-1], null, seed)
        if randomized < total_blocks and cascade.verdict in ("passes", "fails", "undecided"):
            cascade = dataclasses.replace(cascade, verdict=PARTIAL_CASCADE)
        logit = random_logit[method]
        out[method] = SanityOutcome(
            cascade, _judge(logit["spearman"], null, seed), float(np.mean(logit["ssim"]))
        )
    return out


#: What each verdict says, singular and plural, per test.
_SAYS = {
    "randomization": {
        "passes": ("changes its map", "change their maps"),
        "fails": ("keeps it", "keep them"),
    },
    "random_logit": {
        "passes": ("gives another map for another class", "give another map for another class"),
        "fails": ("gives much the same map", "give much the same map"),
    },
}


def _count(verdicts: dict[str, str], labels: dict[str, str], test: str) -> str:
    """Count every verdict in words: 3 of 10 methods pass (A, B, C), 5 fail (...), 2 undecided."""
    groups = {k: [labels.get(m, m) for m, v in verdicts.items() if v == k] for k in
              ("passes", "fails", "undecided")}  # fmt: skip
    names = {k: f" ({', '.join(v)})" if v else "" for k, v in groups.items()}
    says = {k: _SAYS[test][k][len(v) != 1] for k, v in groups.items() if k in _SAYS[test]}
    undecided = len(groups["undecided"])
    return (
        f"{len(groups['passes'])} of {len(verdicts)} methods {says['passes']}{names['passes']}, "
        f"{len(groups['fails'])} {says['fails']}{names['fails']} and {undecided} "
        f"{'is' if undecided == 1 else 'are'} undecided{names['undecided']}"
    )


def sanity_statement(
    outcomes: dict[str, SanityOutcome], labels: dict[str, str], steps: Sequence[str], total: int
) -> str:
    """Say, in words, what the sanity tests found, counting every method's verdict.

    ``steps`` are the blocks randomized (in order), ``total`` the classifier's blocks. Below
    :data:`~hrcam.metrics.statistics.MIN_VERDICT_UNITS` photos it says "too few to judge"
    and names no method as passing or failing.
    """
    from hrcam.metrics import NULL_QUANTILE
    from hrcam.metrics.statistics import MIN_VERDICT_UNITS, TOO_FEW_TO_JUDGE, can_judge

    n = next(iter(outcomes.values())).randomization.n_images
    complete = len(steps) >= total
    how = f"all {total} blocks" if complete else f"{len(steps)} of its {total} blocks"
    text = f"Classifier randomized from the top: {how} (down to {steps[-1]}). "
    if not can_judge(n):
        return text + (
            f"On {n} photo{'s' if n != 1 else ''}, {TOO_FEW_TO_JUDGE}: a verdict needs at least "
            f"{MIN_VERDICT_UNITS} photos; the similarities are given as measured."
        )
    null = (
        f"each method judged against its own null (the {100 * NULL_QUANTILE:.0f}th percentile "
        "of the Spearman correlation between its maps of different photos)"
    )
    if complete:
        cascade = {m: o.randomization.verdict for m, o in outcomes.items()}
        text += f"Cascading test, {null}: {_count(cascade, labels, 'randomization')}. "
        null = "the same null"
    else:
        text += f"No verdict on the cascading test: it needs all {total} blocks randomized. "
    logit = {m: o.random_logit.verdict for m, o in outcomes.items()}
    return text + f"Random-logit test, {null}: {_count(logit, labels, 'random_logit')}."


def sanity_table(outcomes: dict[str, SanityOutcome], labels: dict[str, str], last: str) -> str:
    """Markdown table of both tests per method: Spearman (95 % CI), the null, the verdicts."""
    from hrcam.metrics import NULL_QUANTILE

    lines = [
        f"| Method | Spearman after {last} | null, {100 * NULL_QUANTILE:.0f}th pct. "
        "| cascading test "
        "| random logit: Spearman | random-logit test |",
        "|---|---|---|---|---|---|",
    ]
    for method, o in outcomes.items():
        r, q = o.randomization, o.random_logit
        null = "–" if np.isnan(r.threshold) else f"{r.threshold:.2f}"
        lines.append(
            f"| {labels.get(method, method)} | {_cell(r.mean, r.low, r.high, r.n_images, 2)} "
            f"| {null} | {r.verdict} | {_cell(q.mean, q.low, q.high, q.n_images, 2)} "
            f"| {q.verdict} |"
        )
    return "\n".join(lines)


def _setting(name: str, value: Any) -> str:
    if value is None:  # the photo counts' None means "all"; seed and device their default
        return "all" if name.startswith("photo_") else "default"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(f"`{v}`" for v in value) or "none"
    return f"`{value}`"


def photo_settings_table(cfg: dict[str, Any]) -> str:
    """Show the chapter's settings as a small Markdown table, without the run folder's path.

    The page shows what a reader needs to rerun it (``-p NAME VALUE``), never a machine path.
    """
    rows = [f"| `{k}` | {_setting(k, v)} |" for k, v in cfg.items() if k != "run_dir"]
    return "\n".join(["| Setting | Value |", "|---|---|", *rows])


def skipped_table(skipped: dict[str, str]) -> str:
    """List the methods not run, and why, as a Markdown table (or say that none was skipped)."""
    from hrcam.methods import method_label

    if not skipped:
        return "None: every method ran."
    rows = [f"| {method_label(m)} (`{m}`) | {why} |" for m, why in skipped.items()]
    return "\n".join(["| Method | Why not run |", "|---|---|", *rows])


def save_photo_values(values: dict[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write the page's named values to ``out_dir/values.json`` (atomically)."""
    from hrcam.atomic import atomic_write_text

    path = Path(out_dir) / _VALUES_FILE
    atomic_write_text(path, json.dumps(json_safe(values), indent=1, sort_keys=True))
    return path


def photo_summary(stage: str | os.PathLike) -> dict[str, Any] | None:
    """Read the values :func:`save_photo_values` wrote into ``stage`` (None if it never ran)."""
    path = Path(stage) / _VALUES_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text("utf-8"))
