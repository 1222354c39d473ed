"""Training runs behind the evidence chapter.

Whether expansion training leaves the classifier alone (:func:`classifier_unchanged`), and
both networks trained on one generated synthetic variant (:func:`run_variant`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.methods.camset import compute_cams
from hrcam.studies.refine import refine_study

if TYPE_CHECKING:
    from hrcam.models import HRCAM
    from hrcam.studies.refine import StudyResult


__all__ = [
    "classifier_unchanged",
    "run_variant",
]


def classifier_unchanged(
    classifier_checkpoint: str | os.PathLike,
    model: HRCAM,
    dataset: Any,
    limit: int | None = 256,
    batch_size: int = 32,
) -> dict[str, float]:
    """Measure whether expansion training leaves the classifier alone: logits before and after.

    The classifier checkpoint (before expansion training) and the trained
    :class:`~hrcam.models.HRCAM`'s classifier see the same validation images.

    Returns
    -------
    dict
        ``num_images``, ``max_abs_logit_diff``, ``prediction_agreement``,
        ``max_abs_cam_diff`` (low-res CAMs of the predicted class), ``accuracy_before`` and
        ``accuracy_after``.
    """
    import torch

    from hrcam.models import load_checkpoint, low_res_cam, normalize_images

    device = next(model.parameters()).device
    before = load_checkpoint(classifier_checkpoint, map_location=device).classifier
    if before is None:
        raise ValueError(f"{classifier_checkpoint} holds no classifier")
    before = before.eval()
    after = model.classifier.eval()
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    logit_diff = cam_diff = 0.0
    agree = correct_before = correct_after = 0
    for start in range(0, n, batch_size):
        batch = dataset.get_batch(np.arange(start, min(n, start + batch_size)))
        x = normalize_images(batch["image"].to(device).float() / 255.0)
        labels = batch["label"].to(device)
        with torch.no_grad():
            a, b = before.forward_features(x), after.forward_features(x)
            pa, pb = a.logits.argmax(1), b.logits.argmax(1)
            ca = low_res_cam(a.cam_features, before.fc.weight, pa)
            cb = low_res_cam(b.cam_features, after.fc.weight, pa)
        logit_diff = max(logit_diff, float((a.logits - b.logits).abs().max()))
        cam_diff = max(cam_diff, float((ca - cb).abs().max()))
        agree += int((pa == pb).sum())
        correct_before += int((pa == labels).sum())
        correct_after += int((pb == labels).sum())
    return {"num_images": n, "max_abs_logit_diff": logit_diff, "max_abs_cam_diff": cam_diff,
            "prediction_agreement": agree / n, "accuracy_before": correct_before / n,
            "accuracy_after": correct_after / n}  # fmt: skip


def run_variant(
    variant: str,
    out_dir: str | os.PathLike,
    *,
    image_size: int = 96,
    num_classes: int = 4,
    num_train: int = 800,
    num_val: int = 200,
    classifier_epochs: int = 4,
    expansion_epochs: int = 2,
    batch_size: int = 32,
    arch: str = "densenet_compact",
    seed: int = 0,
    device: str = "auto",
    eval_images: int | None = None,
    n_boot: int = 1000,
    resume: bool = False,
) -> tuple[StudyResult, dict[str, Any]]:
    """Train both networks on one generated synthetic variant and measure refined minus low-res.

    The classifier and the expansion network are trained on the variant; refined minus low-res
    is measured on its validation split (both presets, expansion source).

    Everything is written under ``out_dir`` (``data/``, ``classifier/``, ``expansion/``,
    ``study/``). The settings are the same for every variant, so the variants differ only in
    their data.

    Returns
    -------
    (StudyResult, dict)
        The study and a summary: ``variant``, ``accuracy``, ``val_psnr``, seconds.
    """
    import time

    from hrcam.data.store import StoreDataset
    from hrcam.data.synthetic import generate_synthetic
    from hrcam.models import load_checkpoint
    from hrcam.models.device import resolve_device
    from hrcam.train import train_classifier, train_expansion

    out = Path(out_dir)
    t0 = time.perf_counter()
    generate_synthetic(out / "data", num_train, num_val, image_size=image_size, seed=seed,
                       num_classes=num_classes, num_workers=0, variant=variant)  # fmt: skip
    common = {"data_root": out / "data", "batch_size": batch_size, "seed": seed,
              "device": device, "progress": False, "resume": resume, "num_workers": 0}  # fmt: skip
    clf = train_classifier(run_dir=out / "classifier", arch=arch, epochs=classifier_epochs,
                           **common)  # fmt: skip
    exp = train_expansion(run_dir=out / "expansion", classifier_checkpoint=clf.best_checkpoint,
                          epochs=expansion_epochs, **common)  # fmt: skip
    t1 = time.perf_counter()
    model = load_checkpoint(exp.best_checkpoint, map_location=resolve_device(device)).model()
    cams = compute_cams(model, StoreDataset(out / "data", "val"), eval_images, batch_size)
    study = refine_study(cams, ["expansion"], n_boot=n_boot, seed=seed, box_metrics=False)
    study.save(out / "study")
    summary = {
        "variant": variant,
        "accuracy": cams.accuracy,
        "val_psnr": float(exp.history[-1].get("val_psnr", float("nan"))),
        "train_seconds": t1 - t0,
        "study_seconds": time.perf_counter() - t1,
    }
    return study, summary
