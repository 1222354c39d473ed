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
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hrcam._shared import json_safe

__all__ = [
    "EXPANSION_METHODS",
    "faithfulness_scores",
    "faithfulness_table",
    "faithfulness_text",
    "lite0_blocks",
    "load_photo_model",
    "method_maps",
    "photo_summary",
    "random_logit_similarity",
    "randomization_table",
    "sanity_verdicts",
    "save_photo_values",
]

_VALUES_FILE = "values.json"
#: Mean Spearman correlation with the trained model's map below which a map counts as changed.
#: Fixed before measuring (half-way between identical maps, 1, and unrelated ones, 0).
CHANGED_BELOW = 0.5


#: Maps that read the expansion network: without notebook 10's, the page skips them.
EXPANSION_METHODS = ("high_res_cam", "refined_paper", "refined_reference")


def load_photo_model(run_dir: str | os.PathLike) -> tuple[Any, bool]:
    """Load the ``HRCAM`` of notebook 10 (``RUN/cutouts/expansion/best.pt``) if it exists.

    Without it (the cut-out chapter was skipped), the wrapped EfficientNet-Lite0 with an
    untrained expansion network: the methods that do not read the expansion network run on
    it, :data:`EXPANSION_METHODS` must not.
    """
    from hrcam.models import HRCAM, load_checkpoint
    from hrcam.models.expansion import build_expansion
    from hrcam.models.lite0 import efficientnet_lite0

    path = Path(run_dir) / "cutouts" / "expansion" / "best.pt"
    if path.is_file():
        return load_checkpoint(path).model().eval(), True
    classifier = efficientnet_lite0().eval()
    return HRCAM(classifier, build_expansion(classifier)).eval(), False


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


def _ci(values: np.ndarray, seed: int) -> tuple[float, float, float]:
    from hrcam.evaluate.statistics import bootstrap_mean_ci

    return bootstrap_mean_ci(np.asarray(values, float), seed=seed)


def faithfulness_table(
    scores: dict[str, dict[str, np.ndarray]], labels: dict[str, str], seed: int = 0
) -> tuple[str, dict[str, Any]]:
    """Markdown table (means and 95 % bootstrap CIs over photos) and its values by key."""
    cols = [
        ("drop", "A.D. % ↓", 100),
        ("increase", "A.I. % ↑", 100),
        ("adcc", "ADCC % ↑", 100),
        ("coherency", "coherency % ↑", 100),
        ("complexity", "complexity % ↓", 100),
        ("deletion", "deletion AUC ↓", 1),
        ("insertion", "insertion AUC ↑", 1),
        ("road", "ROAD ↑", 1),
    ]
    head = "| Method | " + " | ".join(c[1] for c in cols) + " |"
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    values: dict[str, Any] = {}
    for name, row in scores.items():
        cells = []
        for key, _title, scale in cols:
            if key not in row:
                cells.append("–")
                continue
            mean, lo, hi = (scale * v for v in _ci(row[key], seed))
            values[f"{name}.{key}"] = [mean, lo, hi]
            digits = 1 if scale == 100 else 3
            cells.append(f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]")
        lines.append(f"| {labels.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines), values


def faithfulness_text(
    scores: dict[str, dict[str, np.ndarray]], labels: dict[str, str], seed: int = 0
) -> str:
    """Say which method has the best ADCC, and how each map compares with the low-res CAM.

    Per method, the paired per-photo ADCC difference to the low-res CAM with its 95 %
    bootstrap CI; "better" or "worse" only where the whole interval lies on one side of 0.
    """
    best = max(scores, key=lambda m: float(np.mean(scores[m]["adcc"])))
    top = 100 * float(np.mean(scores[best]["adcc"]))
    text = f"Highest mean ADCC: {labels.get(best, best)} ({top:.1f} %)."
    base = scores.get("low_res_cam")
    if base is None:
        return text
    parts = []
    for method, row in scores.items():
        if method == "low_res_cam":
            continue
        mean, lo, hi = (100 * v for v in _ci(row["adcc"] - base["adcc"], seed))
        word = "better" if lo > 0 else "worse" if hi < 0 else "no clear difference"
        if len(base["adcc"]) < 2:  # a bootstrap of one photo has no width: no verdict
            word = "one photo, no interval"
        parts.append(f"{labels.get(method, method)} {mean:+.1f} [{lo:+.1f}, {hi:+.1f}] ({word})")
    return text + " ADCC minus the low-res CAM's, paired per photo: " + "; ".join(parts) + "."


def randomization_table(curves: Any, measure: str = "spearman", seed: int = 0) -> dict[str, Any]:
    """Return ``{method: [[mean, lo, hi] per step]}`` of one measure (CIs over photos)."""
    return {
        m: [list(_ci(step, seed)) for step in sims[measure]]
        for m, sims in curves.similarity.items()
    }


def sanity_verdicts(
    curves: Any, random_logit: dict[str, dict[str, np.ndarray]], labels: dict[str, str], seed: int
) -> tuple[dict[str, str], str]:
    """Pass / fail of every method, and the plain statement the page glues.

    A method **passes** the cascading test when its mean Spearman correlation with the trained
    model's map, once every block of the run is randomized, has its 95 % CI below
    :data:`CHANGED_BELOW`; it **fails** when the CI lies above; otherwise (or with a single
    photo, whose bootstrap interval has no width) it is undecided.
    The random-logit test reads the same way on the SSIM between the maps of the predicted
    class and of a random other class.
    """
    verdict, parts = {}, []
    for method, sims in curves.similarity.items():
        mean, lo, hi = _ci(sims["spearman"][-1], seed)
        first = _ci(sims["spearman"][0], seed)[0]
        state = "passes" if hi < CHANGED_BELOW else "fails" if lo > CHANGED_BELOW else "undecided"
        if sims["spearman"].shape[1] < 2:  # a bootstrap of one photo has no width
            state = "undecided"
        verdict[method] = state
        rl = _ci(random_logit[method]["ssim"], seed)[0] if method in random_logit else float("nan")
        parts.append(
            f"**{labels.get(method, method)}** {state} (Spearman {first:.2f} after the FC layer, "
            f"{mean:.2f} [{lo:.2f}, {hi:.2f}] after {curves.steps[-1]}; random-logit SSIM "
            f"{rl:.2f})"
        )
    passed = [labels.get(m, m) for m, v in verdict.items() if v == "passes"]
    failed = [labels.get(m, m) for m, v in verdict.items() if v == "fails"]
    text = (
        f"After randomizing {len(curves.steps)} block(s) of the classifier from the top "
        f"(down to {curves.steps[-1]}), {len(passed)} of {len(verdict)} methods change their "
        f"maps (pass: {', '.join(passed) or 'none'}) and {len(failed)} keep them "
        f"(fail: {', '.join(failed) or 'none'}). " + "; ".join(parts) + "."
    )
    return verdict, text


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
