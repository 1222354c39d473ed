"""Learning curves of the learned maps: train once, snapshot as images seen double, score each.

The paper's expansion network and the learned JBU learn without labels, so their training
images can be as many as the cut-out builder makes (stamps and background photos disjoint from
the validation split's). :func:`train_curve` trains one of them once with a
:class:`~hrcam.train.callbacks.SnapshotAt` callback, so that a single run yields the maps after
``first``, ``2 first``, ``4 first``... steps; it resumes exactly from ``last.pt`` when
interrupted. :func:`curve_point` scores one snapshot on the validation split.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from hrcam.train.callbacks import SnapshotAt, doubling_steps

__all__ = [
    "CURVE_MAPS",
    "curve_point",
    "curve_steps",
    "curve_summary",
    "reconstruction_psnr",
    "seed_spread_text",
    "snapshot_paths",
    "train_curve",
    "upsampler_point",
]

#: The maps each learning-curve point scores: the refined ones are compared with the low-res.
CURVE_MAPS = ("low_res_cam", "high_res_cam", "refined_paper", "refined_reference")


def curve_steps(first_images: int, points: int, batch_size: int) -> list[int]:
    """Optimizer steps at which ``points`` snapshots are taken, from ``first_images`` on.

    ``first_images`` must be a multiple of ``batch_size``; images seen double each point.
    """
    if first_images % batch_size:
        raise ValueError(
            f"first_images={first_images} must be a multiple of batch_size={batch_size}"
        )
    return doubling_steps(first_images // batch_size, points)


def train_curve(
    task: str,
    *,
    data_root: str | os.PathLike,
    run_dir: str | os.PathLike,
    classifier_checkpoint: str | os.PathLike,
    first_images: int,
    points: int,
    batch_size: int = 8,
    seed: int = 0,
    checkpoint_every: int = 5,
    progress: bool = True,
    **overrides: Any,
) -> Any:
    """Train ``task`` ("expansion" or "upsampler") once, snapshotting on a doubling schedule.

    The run lasts until the last snapshot: ``first_images * 2 ** (points - 1)`` images, as many
    epochs of the store's training split as that takes (the last one cut short). Snapshots go
    to ``run_dir/snapshots/step_NNNNNN.pt``; ``last.pt`` is written every ``checkpoint_every``
    steps, and calling this again with the same arguments resumes from it.

    Returns
    -------
    hrcam.train.TrainResult
    """
    from hrcam.data.store import StoreDataset
    from hrcam.train import train_expansion, train_upsampler

    steps = curve_steps(first_images, points, batch_size)
    per_epoch = max(1, len(StoreDataset(data_root, "train")) // batch_size)
    epochs = math.ceil(steps[-1] / per_epoch)
    snapshots = SnapshotAt(steps, Path(run_dir) / "snapshots", batch_size)
    train = {"expansion": train_expansion, "upsampler": train_upsampler}[task]
    return train(
        data_root=data_root,
        run_dir=run_dir,
        classifier_checkpoint=classifier_checkpoint,
        epochs=epochs,
        batch_size=batch_size,
        max_train_batches=min(per_epoch, steps[-1]) if epochs == 1 else None,
        seed=seed,
        checkpoint_every=checkpoint_every,
        progress=progress,
        resume=True,
        callbacks=[snapshots],
        **overrides,
    )


def snapshot_paths(run_dir: str | os.PathLike) -> list[Path]:
    """Return the snapshots of a :func:`train_curve` run, fewest images seen first."""
    return sorted((Path(run_dir) / "snapshots").glob("step_*.pt"))


def reconstruction_psnr(model: Any, dataset: Any, limit: int, batch_size: int = 8) -> float:
    """Mean per-image PSNR (dB, [0, 1] pixels) of ``model``'s reconstruction of ``dataset``.

    The same quantity as the expansion training's ``val_psnr``, on its first ``limit`` images.
    """
    import numpy as np
    import torch

    from hrcam.models import denormalize_images, input_stats, normalize_images

    mean, std = input_stats(model)
    values = []
    n = min(int(limit), len(dataset))
    with torch.no_grad():
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(start + batch_size, n))
            images = torch.from_numpy(dataset.read_arrays(idx)["images"]).permute(0, 3, 1, 2)
            images = images.float() / 255.0
            x = normalize_images(images, mean=mean, std=std)
            recon = model(x).reconstruction.float()
            pix = denormalize_images(recon, mean=mean, std=std) - images
            mse = pix.square().mean(dim=(1, 2, 3)).clamp_min(1e-10)
            values.extend((10.0 * torch.log10(1.0 / mse)).tolist())
    return float(np.mean(values))


def curve_point(
    snapshot: str | os.PathLike,
    data_root: str | os.PathLike,
    *,
    eval_images: int,
    out_dir: str | os.PathLike,
    batch_size: int = 8,
    seed: int = 0,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Score one expansion-network snapshot on the store's validation split.

    Returns
    -------
    dict
        ``images_seen``, ``step``, ``val_psnr`` (on the same ``eval_images`` images),
        ``high_res_pxap`` and the paired ``refined_<preset>_minus_low_res`` PxAP differences
        (``difference``, ``ci_low``, ``ci_high``), every interval resampling stamps
        (:func:`hrcam.studies.cutouts.cutout_units`); ``images`` and ``stamps`` scored.
    """
    from hrcam.data.store import StoreDataset
    from hrcam.evaluate import evaluate
    from hrcam.models import load_checkpoint
    from hrcam.studies.comparison import load_evaluation
    from hrcam.studies.cutouts import cutout_units

    checkpoint = load_checkpoint(snapshot)
    model = checkpoint.model().eval()
    val = StoreDataset(data_root, "val")
    result = evaluate(
        model, val, methods=CURVE_MAPS, target="label", limit=eval_images,
        batch_size=batch_size, faithfulness_limit=0, road_limit=0, keep_examples=0,
        progress=False, seed=seed, n_boot=n_boot,
    )  # fmt: skip
    result.save(Path(out_dir))
    units = cutout_units(data_root, "val")["stamps"]
    comp = load_evaluation(out_dir).resampled(units, "stamps", n_boot=n_boot, seed=seed)
    point: dict[str, Any] = {
        "snapshot": Path(snapshot).name,
        "images_seen": int(checkpoint.extra.get("images_seen", 0)),
        "step": int(checkpoint.extra.get("step", 0)),
        "val_psnr": reconstruction_psnr(model, val, eval_images, batch_size),
        "images": int(comp.value("high_res_cam", "pxap", "n")),
        "stamps": int(comp.config["num_units"]),
    }
    for method in CURVE_MAPS:
        point[f"{method}_pxap"] = {
            key: comp.value(method, "pxap", key) for key in ("mean", "ci_low", "ci_high")
        }
    for preset in ("paper", "reference"):
        d = comp.paired(f"refined_{preset}", "low_res_cam", "pxap", n_boot, seed)
        point[f"refined_{preset}_minus_low_res"] = {
            key: float(d[key]) for key in ("difference", "ci_low", "ci_high")
        }
    return point


def _val_images(dataset: Any, limit: int) -> Any:
    import numpy as np
    import torch

    idx = np.arange(min(int(limit), len(dataset)))
    images = torch.from_numpy(dataset.read_arrays(idx)["images"]).permute(0, 3, 1, 2)
    return images.float() / 255.0


def upsampler_point(
    snapshot: str | os.PathLike,
    classifier_checkpoint: str | os.PathLike,
    data_root: str | os.PathLike,
    *,
    eval_images: int,
    out_dir: str | os.PathLike,
    batch_size: int = 4,
    seed: int = 0,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Score one learned-JBU snapshot: its own validation loss and ``featup_jbu``'s PxAP.

    Returns
    -------
    dict
        ``images_seen``, ``step``, ``val_loss`` (FeatUp's multi-view loss on the first
        ``eval_images`` validation images, fixed jitters), ``featup_jbu_pxap`` and the paired
        ``featup_jbu_minus_low_res`` PxAP difference, intervals resampling stamps.
    """
    import torch

    from hrcam.data.store import StoreDataset
    from hrcam.evaluate import evaluate
    from hrcam.models import HRCAM, build_expansion, load_checkpoint
    from hrcam.models.jbu import load_upsampler, read_upsampler_payload, with_upsampler
    from hrcam.studies.comparison import load_evaluation
    from hrcam.studies.cutouts import cutout_units
    from hrcam.train.upsampler import UpsamplerTask, UpsamplerTrainer, multiview_loss

    classifier = load_checkpoint(classifier_checkpoint).classifier.eval()
    upsampler = load_upsampler(snapshot, classifier)
    extra = read_upsampler_payload(snapshot)["extra"]
    val = StoreDataset(data_root, "val")
    task = UpsamplerTask(UpsamplerTrainer(classifier, upsampler), False, 0.0, {})
    task.model.eval()
    losses = []
    images = _val_images(val, eval_images)
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = task.preprocess(images[start : start + batch_size], False, None)
            losses.append(float(multiview_loss(task.model(x))) * len(x))
    # featup_jbu reads only the classifier and the upsampler; the expansion network is a stub.
    model = with_upsampler(HRCAM(classifier, build_expansion(classifier, rank=1)), upsampler)
    result = evaluate(
        model, val, methods=("low_res_cam", "featup_jbu"), target="label", limit=eval_images,
        batch_size=batch_size, faithfulness_limit=0, road_limit=0, keep_examples=0,
        progress=False, seed=seed, n_boot=n_boot,
    )  # fmt: skip
    result.save(Path(out_dir))
    units = cutout_units(data_root, "val")["stamps"]
    comp = load_evaluation(out_dir).resampled(units, "stamps", n_boot=n_boot, seed=seed)
    d = comp.paired("featup_jbu", "low_res_cam", "pxap", n_boot, seed)
    return {
        "snapshot": Path(snapshot).name,
        "images_seen": int(extra.get("images_seen", 0)),
        "step": int(extra.get("step", 0)),
        "val_loss": sum(losses) / len(images),
        "images": int(comp.value("featup_jbu", "pxap", "n")),
        "stamps": int(comp.config["num_units"]),
        "featup_jbu_pxap": {
            key: comp.value("featup_jbu", "pxap", key) for key in ("mean", "ci_low", "ci_high")
        },
        "featup_jbu_minus_low_res": {
            key: float(d[key]) for key in ("difference", "ci_low", "ci_high")
        },
    }


def _spread(values: list[float]) -> float:
    import statistics

    return statistics.stdev(values) if len(values) > 1 else float("nan")


def curve_summary(card: dict[str, Any]) -> str:
    """Say where a shipped map's learning curve stands, from its model card.

    The last doubling of images seen is compared with the spread between training seeds
    (``card["seeds"]``: per seed, the same point measured at a smaller scale). The stopping
    rule of the project: doubling changes the seed-mean raw high-res PxAP by less than the
    standard deviation between seeds.
    """
    curve = card.get("curve") or []
    if len(curve) < 2:
        return "The model card records no learning curve."
    last, before = curve[-1], curve[-2]
    key = "high_res_cam_pxap" if "high_res_cam_pxap" in last else "featup_jbu_pxap"
    what = "raw high-res CAM PxAP" if key == "high_res_cam_pxap" else "learned JBU PxAP"
    change = last[key]["mean"] - before[key]["mean"]
    text = (
        f"From {before['images_seen']:,} to {last['images_seen']:,} training images seen, the "
        f"{what} moved by {change:+.3f} ({before[key]['mean']:.3f} to {last[key]['mean']:.3f})"
    )
    seeds = card.get("seeds") or []
    if len(seeds) < 2:
        return text + "; no spread between seeds was measured, so it cannot be judged converged."
    spread = _spread([s[key]["mean"] for s in seeds])
    verdict = "less" if abs(change) < spread else "more"
    return (
        f"{text}; between {len(seeds)} training seeds at {seeds[0]['images_seen']:,} images "
        f"it differs by {spread:.3f} (standard deviation). The last doubling changed it by "
        f"{verdict} than that: "
        + (
            "by the project's rule, more training no longer changes the answer."
            if verdict == "less"
            else "by the project's rule, it is still learning."
        )
    )


def seed_spread_text(card: dict[str, Any], keys: dict[str, str]) -> str:
    """List each verdict's value for every training seed in ``card["seeds"]`` (a sentence).

    ``keys`` maps a point's key (e.g. ``refined_paper_minus_low_res``) to its words.
    """
    seeds = card.get("seeds") or []
    if not seeds:
        return "No other training seed was measured."
    parts = []
    for key, words in keys.items():
        values = [s[key]["difference"] for s in seeds if key in s]
        if not values:
            continue
        crosses = min(values) < 0 < max(values)
        parts.append(
            f"{words}: "
            + ", ".join(f"{v:+.3f}" for v in values)
            + (" (the sign differs between seeds)" if crosses else "")
        )
    return (
        f"Across {len(seeds)} training seeds at {seeds[0]['images_seen']:,} images seen "
        f"(PxAP differences against the low-res CAM): " + "; ".join(parts) + "."
    )
