"""The consistency-trained expansion network on the source ablation and the data variants.

The "Beyond the paper" page (notebook 09) measures it on the high-res-source ablation and on
the evidence chapter's data variants.
:func:`consistency_variant` trains it on one data variant and runs the ablation there;
:func:`ablation_values` and :func:`variant_text` give the page its numbers and sentences.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hrcam.core.tables import find_row, put_ci
from hrcam.studies.refine import PRESET_CONFIGS, verdict

if TYPE_CHECKING:
    from hrcam.studies.refine import StudyResult

__all__ = ["ablation_values", "consistency_variant", "variant_text"]


def consistency_variant(
    variant_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    weight: float,
    *,
    expansion_epochs: int,
    batch_size: int = 32,
    seed: int = 0,
    device: str = "auto",
    eval_images: int | None = None,
    n_boot: int = 1000,
    resume: bool = False,
) -> tuple[StudyResult, list[dict[str, Any]]]:
    """Measure a consistency-trained expansion network on a data variant of the evidence chapter.

    The variant's data and frozen classifier are the ones :func:`hrcam.studies.run_variant`
    left in ``variant_dir``; the new network is trained with the same settings as the
    variant's own expansion network, plus the consistency term. Both networks' high-res CAMs
    then go through the same post-processing (:func:`hrcam.studies.evaluate_sources`, sources
    ``expansion`` and ``consistency``) on the variant's validation split.

    Returns
    -------
    (StudyResult, list of dict)
        The study (also written to ``out_dir/study``) and one row per preset and source:
        ``variant``, ``config``, ``source``, the paired PxAP difference from the low-res CAM
        (``difference``, ``ci_low``, ``ci_high``), ``fallback``, and for the consistency
        source ``vs_paper_*``: its refined PxAP minus the paper network's, same images.
    """
    from hrcam.data.store import StoreDataset
    from hrcam.models import load_checkpoint
    from hrcam.models.device import resolve_device
    from hrcam.studies.ablation import evaluate_sources
    from hrcam.studies.refine import paired_between
    from hrcam.train import train_expansion

    vdir, out = Path(variant_dir), Path(out_dir)
    for part in ("data", "classifier/best.pt", "expansion/best.pt"):
        if not (vdir / part).exists():
            raise FileNotFoundError(
                f"{vdir / part} does not exist: run the variant in notebook 07_evidence first"
            )
    trained = train_expansion(data_root=vdir / "data", run_dir=out / "expansion",
                              classifier_checkpoint=vdir / "classifier" / "best.pt",
                              epochs=expansion_epochs, batch_size=batch_size, seed=seed,
                              device=device, progress=False, resume=resume, num_workers=0,
                              consistency_weight=float(weight))  # fmt: skip
    where = resolve_device(device)
    paper = load_checkpoint(vdir / "expansion" / "best.pt", map_location=where).model()
    ours = load_checkpoint(trained.best_checkpoint, map_location=where).model()
    study = evaluate_sources(paper, StoreDataset(vdir / "data", "val"), sources=["expansion"],
                             limit=eval_images, batch_size=batch_size, n_boot=n_boot, seed=seed,
                             progress=False, high_res_models={"consistency": ours},
                             box_metrics=False)  # fmt: skip
    study.save(out / "study")
    rows = []
    for preset in PRESET_CONFIGS:
        for source in ("expansion", "consistency"):
            method = f"{preset}@{source}"
            d = study.difference(method, "pxap")
            row = {"variant": vdir.name, "config": preset, "source": source,
                   "difference": d["difference"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                   "fallback": study.value(method, "fallback_rate")}  # fmt: skip
            if source == "consistency":
                b = paired_between(study, method, f"{preset}@expansion", "pxap", n_boot, seed)
                row.update(vs_paper=b["difference"], vs_paper_low=b["ci_low"],
                           vs_paper_high=b["ci_high"])  # fmt: skip
            rows.append(row)
    return study, rows


def ablation_values(study: StudyResult, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Return the high-res-source ablation's numbers for the consistency source, by name.

    Parameters
    ----------
    study
        :func:`hrcam.studies.evaluate_sources` with ``high_res_models={"consistency": ...}``
        (sources ``expansion`` and ``consistency`` at least).
    n_boot, seed
        Bootstrap of the paired differences.

    Returns
    -------
    dict
        ``abl_<preset>_cons`` (refined minus low-res CAM), ``abl_<preset>_cons_vs_exp``
        (consistency minus paper network as the high-res map) with ``_lo``/``_hi`` and
        ``_verdict``, fallback rates, raw-map PxAPs and ``abl_images``.
    """
    from hrcam.studies.refine import paired_between

    out: dict[str, Any] = {}
    for preset in PRESET_CONFIGS:
        d = study.difference(f"{preset}@consistency", "pxap")
        put_ci(out, f"abl_{preset}_cons", d, "difference")
        out[f"abl_{preset}_cons_verdict"] = verdict(d["ci_low"], d["ci_high"])
        b = paired_between(study, f"{preset}@consistency", f"{preset}@expansion", "pxap",
                           n_boot, seed)  # fmt: skip
        put_ci(out, f"abl_{preset}_cons_vs_exp", b, "difference")
        out[f"abl_{preset}_cons_vs_exp_verdict"] = verdict(b["ci_low"], b["ci_high"])
        out[f"abl_{preset}_cons_fallback"] = study.value(f"{preset}@consistency", "fallback_rate")
    put_ci(out, "abl_raw_cons_pxap", find_row(study.table, "raw@consistency", "pxap"), "mean")
    put_ci(out, "abl_raw_exp_pxap", find_row(study.table, "raw@expansion", "pxap"), "mean")
    out["abl_images"] = int(study.config["num_images"])
    return out


def variant_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """Say where the consistency network's refined CAM beats (or loses to) the paper network's.

    On the data variants, from the rows of :func:`consistency_variant`; ``""`` without rows.
    """
    cons = [r for r in rows if r["source"] == "consistency"]
    if not cons:
        return ""
    wins = [f"{r['variant']} ({r['config']})" for r in cons if r["vs_paper_low"] > 0]
    losses = [f"{r['variant']} ({r['config']})" for r in cons if r["vs_paper_high"] < 0]
    return (
        "On the data variants, the consistency network's refined CAM beats the paper "
        f"network's (PxAP, paired) on: {', '.join(wins) or 'none'}; it loses on: "
        f"{', '.join(losses) or 'none'}."
    )
