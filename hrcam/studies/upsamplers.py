"""Three unsupervised ways to a high-res CAM from one frozen classifier, measured side by side.

The paper's expansion network (reconstructing the image), a FeatUp-style learned JBU
(``featup_jbu``: reconstructing the classifier's features across jittered views) and no
learning at all (``cam_guided``, ``cam_bilateral``: the low-res CAM filtered with the image as
the guide; ``cam_jbu``: the low-res samples themselves upsampled with the image as the guide,
Kopf et al.'s joint bilateral upsampling). Each map is scored raw and as the high-res map of
the paper's post-processing (the same low-res CAM, focal points and ROI; only the high-res map
changes), with :func:`hrcam.studies.refine_study`: PxAP and MaxBoxAccV2 with bootstrap CIs, and
the paired difference against the bilinear low-res CAM on the same images.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.core.tables import find_row
from hrcam.evaluate.report import ci_cell
from hrcam.methods.camset import CamSet

__all__ = [
    "UPSAMPLER_SOURCES",
    "UpsamplerInputs",
    "add_method_sources",
    "first_cams",
    "map_label",
    "method_costs",
    "postprocess_ms",
    "rank_maps",
    "sess_forward_passes",
    "source_maps",
    "training_seconds",
    "upsampler_inputs",
    "upsampler_table",
    "upsampler_values",
]

UPSAMPLER_SOURCES: tuple[str, ...] = ("featup_jbu", "cam_jbu", "cam_guided", "cam_bilateral")
"""The methods whose maps are fed to the post-processing beside the expansion network's: the
learned JBU, Kopf et al.'s joint bilateral upsampling and the two filters. grad-cam's SESS (a
high-resolution meta-method that runs the classifier on upscaled windows) is measured apart, on
fewer images, for its cost."""


@dataclass(frozen=True)
class UpsamplerInputs:
    """What the comparison reads from a run folder.

    Attributes
    ----------
    data
        ``"real cut-outs"`` or ``"synthetic scenes"``.
    store
        The store whose training split trains the upsampler and whose validation split is
        scored.
    classifier
        Checkpoint holding the frozen classifier.
    expansion
        The expansion network's run folder (``best.pt``, ``metrics.csv``).
    measured
        The checkpoint of the model the earlier chapter measured: for the cut-outs its
        ``measured.pt`` (the shipped or the retrained network, by ``learned_maps``), else the
        expansion run's ``best.pt``.
    """

    data: str
    store: Path
    classifier: Path
    expansion: Path
    measured: Path | None = None


def upsampler_inputs(run_dir: str | os.PathLike) -> UpsamplerInputs | None:
    """Find the comparison's inputs: notebook 10's real cut-outs, else the synthetic run.

    ``None`` when the run folder holds neither.

    The cut-out chapter ran when ``RUN/cutouts/values.json`` exists (it is written last); the
    synthetic run needs notebooks 01-03 (``RUN/data``, ``RUN/classifier/best.pt``,
    ``RUN/expansion/best.pt``).
    """
    from hrcam.book.profiles import stage_dir

    cut = stage_dir(run_dir, "10_real_cutouts")
    if (cut / "values.json").is_file():
        measured = cut / "measured.pt"
        return UpsamplerInputs(
            "real cut-outs",
            cut / "store",
            cut / "lite0_classifier.pt",
            cut / "expansion",
            measured if measured.is_file() else cut / "expansion" / "best.pt",
        )
    data = stage_dir(run_dir, "01_dataset")
    clf = stage_dir(run_dir, "02_classifier") / "best.pt"
    exp = stage_dir(run_dir, "03_expansion")
    if data.is_dir() and clf.is_file() and (exp / "best.pt").is_file():
        return UpsamplerInputs("synthetic scenes", data, clf, exp, exp / "best.pt")
    return None


def _batches(cams: CamSet, batch_size: int):
    import torch

    for start in range(0, len(cams), batch_size):
        stop = min(start + batch_size, len(cams))
        images = torch.from_numpy(cams.images[start:stop]).permute(0, 3, 1, 2).float() / 255.0
        yield images, [int(t) for t in cams.targets[start:stop]]


def add_method_sources(
    model: Any, cams: CamSet, names: Sequence[str], batch_size: int = 16, device: Any = "cpu"
) -> dict[str, float]:
    """Add each method's maps of ``cams``' images and classes as a high-res source.

    Returns
    -------
    dict
        Milliseconds per image of each method (forward pass included), measured here.
    """
    from hrcam.methods import build_methods

    costs = {}
    for name, method in build_methods(model, list(names)).items():
        maps, start = [], time.perf_counter()
        for images, targets in _batches(cams, batch_size):
            maps.append(method(images.to(device), targets).maps)
        costs[name] = 1000.0 * (time.perf_counter() - start) / max(len(cams), 1)
        cams.extra_high_res[name] = np.concatenate(maps).astype(np.float32)
    return costs


def method_costs(
    model: Any, cams: CamSet, names: Sequence[str], images: int = 4, device: Any = "cpu"
) -> dict[str, float]:
    """Time each method on the first ``images`` images (one batch, after a warm-up call).

    Returns milliseconds per image by method name.
    """
    from hrcam.methods import build_methods

    subset = first_cams(cams, images)
    costs = {}
    for name, method in build_methods(model, list(names)).items():
        batch, targets = next(_batches(subset, images))
        method(batch[:1].to(device), targets[:1])  # warm-up: first-call overheads untimed
        start = time.perf_counter()
        method(batch.to(device), targets)
        costs[name] = 1000.0 * (time.perf_counter() - start) / len(subset)
    return costs


def postprocess_ms(cams: CamSet, preset: str = "paper") -> float:
    """Time the paper's post-processing alone: milliseconds per map, over ``cams``' maps."""
    from hrcam.postprocess import refine

    start = time.perf_counter()
    for low, high in zip(cams.low_res, cams.high_res, strict=True):
        refine(low, high, preset)
    return 1000.0 * (time.perf_counter() - start) / max(len(cams), 1)


def first_cams(cams: CamSet, count: int) -> CamSet:
    """Return the first ``count`` images of ``cams`` (their extra sources too)."""
    extra = {k: v[:count] for k, v in cams.extra_high_res.items()}
    return CamSet(**{k: getattr(cams, k)[:count] for k in _ARRAYS}, extra_high_res=extra)


_ARRAYS = ("index", "images", "masks", "boxes", "labels", "targets", "low_res", "high_res")


SOURCE_NAMES: dict[str, str] = {
    "expansion": "expansion network",
    "featup_jbu": "learned JBU",
    "cam_guided": "guided filter",
    "cam_jbu": "joint bilateral upsampling",
    "cam_bilateral": "joint bilateral filter (OpenCV)",
    "sess": "SESS (multi-scale Grad-CAM)",
}
"""Short display names of the compared high-res maps."""


def map_label(method: str) -> str:
    """Short display label of a study key (``low_res_cam``, ``raw@cam_jbu``, ``paper@...``)."""
    if method == "low_res_cam":
        return "low-res CAM (bilinear)"
    config, _, source = method.partition("@")
    name = SOURCE_NAMES.get(source, source)
    return f"{name}, raw" if config == "raw" else f"{name} + {config} post-proc."


def sess_forward_passes(image_size: int) -> dict[str, float]:
    """Count SESS's windows on a square image and the classifier passes they cost.

    grad-cam's ``SESS`` with its defaults (12 scales, non-overlapping windows of the image's
    size) scores each window once (1 forward pass) and explains it with Grad-CAM (a forward and
    a backward pass, about 2.5): ``windows * 3.5`` passes, against 1 for the CAM.
    """
    import torch
    from pytorch_grad_cam import SESS

    sess = SESS.__new__(SESS)  # only its window geometry is needed: no model, no hooks
    sess.scales, sess.num_scales, sess.scale_step_ratio = None, 12, 2.0 / 7.0
    probe = torch.zeros(1, 1, image_size, image_size)
    windows = len(sess.collect_patches(probe, image_size, image_size)[0])
    return {"windows": float(windows), "forward_passes": 3.5 * windows}


def source_maps(cams: CamSet, sources: Sequence[str], count: int = 4) -> dict[str, np.ndarray]:
    """Return the first ``count`` images' maps for a figure, in [0, 1] at full resolution.

    Keys are ``low_res_cam`` (bilinear) and ``raw@<source>`` for each source.
    """
    from hrcam.methods import normalize_maps
    from hrcam.postprocess.steps import resize_bilinear
    from hrcam.studies.sources import high_res_source

    size = tuple(cams.images.shape[1:3])
    n = min(count, len(cams))
    out = {"low_res_cam": np.stack([resize_bilinear(m, size) for m in cams.low_res[:n]])}
    for s in sources:
        out[f"raw@{s}"] = np.stack([high_res_source(s, cams, i) for i in range(n)])
    return {k: normalize_maps(v.astype(np.float32)) for k, v in out.items()}


def training_seconds(run_dir: str | os.PathLike) -> float:
    """Seconds of training of a run folder: the sum of its ``metrics.csv`` epoch times."""
    path = Path(run_dir) / "metrics.csv"
    with path.open(newline="") as handle:
        return float(sum(float(row["epoch_time_s"]) for row in csv.DictReader(handle)))


def rank_maps(study: Any, metric: str = "pxap", n_boot: int = 1000, seed: int = 0) -> dict:
    """Rank the study's maps by ``metric`` and compare the best two on the same images.

    Returns
    -------
    dict
        ``order`` (method keys, best first, on all images), ``best``, ``runner_up``,
        ``chosen`` and ``paired`` (the leader chosen on half the units and its paired
        difference from the runner-up on the other half,
        :func:`hrcam.studies.ranking.held_out_lead`) and ``text``, generated from the numbers.
    """
    from hrcam.studies.comparison import Comparison
    from hrcam.studies.ranking import held_out_lead

    _label = map_label
    order = sorted(study.methods, key=lambda m: -study.value(m, metric))
    best, runner = order[:2]
    name = {"pxap": "PxAP", "max_box_acc_v2": "MaxBoxAccV2"}.get(metric, metric)

    def cell(m: str) -> str:
        return ci_cell(find_row(study.table, m, metric))

    text = f"By {name}, the highest map is the {_label(best)}, {cell(best)}; then the "
    text += f"{_label(runner)}, {cell(runner)}"
    comp = Comparison(list(order), {m: _label(m) for m in order}, study.table, study.per_image,
                      {**study.config, "bootstrap_unit": "stamps" if study.units else "images"},
                      study.curves, study.units)  # fmt: skip
    held = held_out_lead(comp, order, metric, n_boot, seed)
    text += f". Whether it is really ahead: {held['lead']}."
    return {
        "order": order,
        "best": best,
        "runner_up": runner,
        "paired": held["paired"],
        "chosen": held["chosen"],
        "text": text,
    }


def upsampler_table(study: Any, costs: Mapping[str, float]) -> str:
    """Markdown table: each source raw and refined, PxAP and MaxBoxAccV2, against the low-res CAM.

    ``costs`` holds milliseconds per image by source (``expansion`` for the expansion network).
    From a single image the table prints values without intervals (a bootstrap over one image
    gives a zero-width interval that would look like certainty) and says so under the table.
    """
    _label = map_label
    n = int(study.config["num_images"])
    with_ci = n >= 2

    def ci(m: str, metric: str) -> str:
        row = find_row(study.table, m, metric)
        return ci_cell(row) if with_ci else f"{row['mean']:.3f}"

    def diff(m: str) -> str:
        d = study.difference(m, "pxap")
        if not with_ci:
            return f"{d['difference']:+.3f}"
        return f"{d['difference']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"

    lines = [
        "| map | PxAP | MaxBoxAccV2 | PxAP minus low-res CAM (paired) | ms / image |",
        "|---|---|---|---|---|",
        f"| {_label('low_res_cam')} | {ci('low_res_cam', 'pxap')} | "
        f"{ci('low_res_cam', 'max_box_acc_v2')} | | {costs.get('low_res_cam', float('nan')):.0f} |",
    ]
    for m in study.methods[1:]:
        source = m.partition("@")[2]
        cost = costs.get(source, float("nan"))
        if not m.startswith("raw@"):
            cost += costs.get("post-processing", float("nan"))
        lines.append(
            f"| {_label(m)} | {ci(m, 'pxap')} | {ci(m, 'max_box_acc_v2')} | {diff(m)} | "
            f"{cost:.0f} |"
        )
    if not with_ci:
        lines.append(
            f"\nFrom {n} image: values only, with no interval and no verdict (an interval needs "
            "at least 2 images)."
        )
    return "\n".join(lines)


def upsampler_values(
    study: Any, costs: Mapping[str, float], seconds: Mapping[str, float]
) -> dict[str, Any]:
    """Collect the page's named numbers: PxAP/MaxBoxAccV2 with CIs, costs and times."""
    out: dict[str, Any] = {"num_images": int(study.config["num_images"])}
    for m in study.methods:
        key = m.replace("@", "_")
        for metric in ("pxap", "max_box_acc_v2"):
            for part in ("mean", "ci_low", "ci_high"):
                out[f"{key}_{metric}_{part}"] = study.value(m, metric, part)
        if m != "low_res_cam":
            d = study.difference(m, "pxap")
            out[f"{key}_pxap_diff"] = d["difference"]
            out[f"{key}_pxap_diff_lo"], out[f"{key}_pxap_diff_hi"] = d["ci_low"], d["ci_high"]
    out.update({f"ms_{k}": float(v) for k, v in costs.items()})
    out.update({f"train_s_{k}": float(v) for k, v in seconds.items()})
    return out


def save_values(values: Mapping[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write ``values`` as ``out_dir/values.json`` (atomically)."""
    from hrcam.atomic import atomic_write_text

    return atomic_write_text(Path(out_dir) / "values.json", json.dumps(dict(values), indent=1))
