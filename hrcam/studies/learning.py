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
    "CURVE_DEFAULTS",
    "CURVE_MAPS",
    "curve_point",
    "curve_steps",
    "curve_summary",
    "reconstruction_psnr",
    "seed_caveat",
    "seed_caveats",
    "seed_groups",
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
    progress: bool = False,
    **overrides: Any,
) -> Any:
    """Train ``task`` ("expansion" or "upsampler") once, snapshotting on a doubling schedule.

    The run lasts until the last snapshot: ``first_images * 2 ** (points - 1)`` images, as many
    epochs of the store's training split as that takes (cut short only when the whole run is
    shorter than one epoch). Snapshots go to ``run_dir/snapshots/step_NNNNNN.pt``; ``last.pt``
    is written every ``checkpoint_every`` steps, and calling this again with the same
    arguments, or with more ``points``, resumes from it.

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
        # The same cap for any number of epochs, so that a curve extended by more points
        # (more epochs) resumes its run: a changed cap would be refused on resume.
        max_train_batches=min(per_epoch, steps[-1]),
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


def _stamp_comparison(
    model: Any,
    data_root: str | os.PathLike,
    methods: tuple[str, ...],
    eval_images: int,
    out_dir: str | os.PathLike,
    batch_size: int,
    seed: int,
    n_boot: int,
) -> Any:
    """Evaluate ``methods`` on the first validation images; intervals resample stamps."""
    from hrcam.data.store import StoreDataset
    from hrcam.evaluate import evaluate
    from hrcam.studies.comparison import load_evaluation
    from hrcam.studies.cutouts import cutout_units

    result = evaluate(
        model, StoreDataset(data_root, "val"), methods=methods, target="label",
        limit=eval_images, batch_size=batch_size, faithfulness_limit=0, road_limit=0,
        keep_examples=0, progress=False, seed=seed, n_boot=n_boot,
    )  # fmt: skip
    result.save(Path(out_dir))
    units = cutout_units(data_root, "val")["stamps"]
    return load_evaluation(out_dir).resampled(units, "stamps", n_boot=n_boot, seed=seed)


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
    from hrcam.models import load_checkpoint

    checkpoint = load_checkpoint(snapshot)
    model = checkpoint.model().eval()
    val = StoreDataset(data_root, "val")
    comp = _stamp_comparison(model, data_root, CURVE_MAPS, eval_images, out_dir, batch_size,
                             seed, n_boot)  # fmt: skip
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
    loss_images: int | None = None,
) -> dict[str, Any]:
    """Score one learned-JBU snapshot: its own validation loss and ``featup_jbu``'s PxAP.

    The validation loss (five jitters of each image, as in training) is computed on the first
    ``loss_images`` validation images (default: ``eval_images``); the PxAP on ``eval_images``.

    Returns
    -------
    dict
        ``images_seen``, ``step``, ``val_loss`` (FeatUp's multi-view loss on the first
        ``eval_images`` validation images, fixed jitters), ``featup_jbu_pxap`` and the paired
        ``featup_jbu_minus_low_res`` PxAP difference, intervals resampling stamps.
    """
    import torch

    from hrcam.data.store import StoreDataset
    from hrcam.models import HRCAM, build_expansion, load_checkpoint
    from hrcam.models.jbu import load_upsampler, read_upsampler_payload, with_upsampler
    from hrcam.train.upsampler import UpsamplerTask, UpsamplerTrainer, multiview_loss

    classifier = load_checkpoint(classifier_checkpoint).classifier.eval()
    upsampler = load_upsampler(snapshot, classifier)
    extra = read_upsampler_payload(snapshot)["extra"]
    val = StoreDataset(data_root, "val")
    task = UpsamplerTask(UpsamplerTrainer(classifier, upsampler), False, 0.0, {})
    task.model.eval()
    losses = []
    images = _val_images(val, loss_images or eval_images)
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = task.preprocess(images[start : start + batch_size], False, None)
            losses.append(float(multiview_loss(task.model(x))) * len(x))
    # featup_jbu reads only the classifier and the upsampler; the expansion network is a stub.
    model = with_upsampler(HRCAM(classifier, build_expansion(classifier, rank=1)), upsampler)
    comp = _stamp_comparison(model, data_root, ("low_res_cam", "featup_jbu"), eval_images,
                             out_dir, batch_size, seed, n_boot)  # fmt: skip
    d = comp.paired("featup_jbu", "low_res_cam", "pxap", n_boot, seed)
    return {
        "snapshot": Path(snapshot).name,
        "images_seen": int(extra.get("images_seen", 0)),
        "step": int(extra.get("step", 0)),
        "val_loss": sum(losses) / len(images),
        "val_loss_images": len(images),
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


def seed_groups(card: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """Group the card's seed points (``card["seeds"]``) by images seen, fewest first.

    Each group holds one point per training seed at that scale; a card may measure the spread
    at several scales.
    """
    groups: dict[int, list[dict[str, Any]]] = {}
    for point in card.get("seeds") or []:
        groups.setdefault(int(point["images_seen"]), []).append(point)
    return dict(sorted(groups.items()))


def _widest_spread(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the seed points at the largest scale where two or more seeds were measured."""
    groups = [g for g in seed_groups(card).values() if len(g) > 1]
    return groups[-1] if groups else []


def _sign_differs(values: list[float]) -> bool:
    return min(values) < 0 < max(values)


def curve_summary(card: dict[str, Any]) -> str:
    """Say where a shipped map's learning curve stands, from its model card.

    The last doubling of images seen is compared with the spread between training seeds at
    the largest scale the card measured it (:func:`seed_groups`). The stopping rule of the
    project: doubling changes the seed-mean raw high-res PxAP by less than the standard
    deviation between seeds.
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
    seeds = _widest_spread(card)
    if not seeds:
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
    """List each verdict's value for every training seed, at each scale measured (sentences).

    ``keys`` maps a point's key (e.g. ``refined_paper_minus_low_res``) to its words.
    """
    groups = seed_groups(card)
    if not groups:
        return "No other training seed was measured."
    sentences = []
    for seen, seeds in groups.items():
        parts = []
        for key, words in keys.items():
            values = [s[key]["difference"] for s in seeds if key in s]
            if not values:
                continue
            parts.append(
                f"{words}: "
                + ", ".join(f"{v:+.3f}" for v in values)
                + (" (the sign differs between seeds)" if _sign_differs(values) else "")
            )
        sentences.append(
            f"Across {len(seeds)} training seeds at {seen:,} images seen (PxAP differences "
            f"against the low-res CAM): " + "; ".join(parts) + "."
        )
    return " ".join(sentences)


def seed_caveat(card: dict[str, Any], key: str, words: str) -> str:
    """Return a sentence for a verdict whose sign differs between training seeds, else ``""``.

    ``key`` names the verdict's difference in the card's seed points (e.g.
    ``refined_paper_minus_low_res``), ``words`` the verdict; the spread at the largest scale
    the card measured is read.
    """
    seeds = _widest_spread(card)
    values = [s[key]["difference"] for s in seeds if key in s]
    if len(values) < 2 or not _sign_differs(values):
        return ""
    return (
        f"{words}: its sign differs between {len(values)} training seeds of the shipped map "
        f"({seeds[0]['images_seen']:,} images seen, on its model card's validation "
        "images: " + ", ".join(f"{v:+.3f}" for v in values) + "), so one training run does "
        "not settle it."
    )


def seed_caveats(checks: list[tuple[dict[str, Any], str, str, str]]) -> str:
    """Say, for a page's verdicts, whether their sign holds across training seeds.

    Parameters
    ----------
    checks
        ``(card, key, words, source)`` per verdict: the shipped map's model card, the
        verdict's key in its seed points, the verdict in words, and where the map the page
        measured came from (``"shipped"``, or ``"retrained"`` for one trained by the page,
        to which the card's seeds do not apply).

    Returns
    -------
    str
        The :func:`seed_caveat` sentences; else one sentence saying that no sign changes, or
        that the page measured maps it trained itself.
    """
    shipped = [c for c in checks if c[3] == "shipped"]
    if not shipped:
        return (
            "These maps were trained by this run, not shipped: the spread between training "
            "seeds, measured for the shipped ones, is in the real cut-outs chapter."
        )
    found = [seed_caveat(card, key, words) for card, key, words, _ in shipped]
    return " ".join(f for f in found if f) or (
        "Each of these verdicts has the same sign for every training seed measured."
    )


def _lite0_checkpoint(folder: Path) -> Path:
    """Save the wrapped EfficientNet-Lite0 as a classifier checkpoint in ``folder`` (once)."""
    from hrcam.models import save_checkpoint
    from hrcam.models.lite0 import efficientnet_lite0

    path = folder / "lite0_classifier.pt"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, efficientnet_lite0().eval(), metadata={})
    return path


#: Per task: batch size and the options its curve trains with (the model cards' commands).
CURVE_DEFAULTS: dict[str, dict[str, Any]] = {
    "expansion": {
        "batch_size": 8,
        "checkpoint_every": 5,
        "max_val_batches": 6,
        "cam_classes": "imagenet-animals",
    },
    "upsampler": {"batch_size": 4, "checkpoint_every": 2, "max_val_batches": 4},
}


def main(argv: list[str] | None = None) -> int:
    """Train a learned map's learning curve for Lite0 (the shipped weights' command).

    ``python -m hrcam.studies.learning expansion --data DIR --run-dir DIR --seed 0
    --first-images 40 --points 7``; ``--first-step-only`` trains one step into a fresh
    folder and prints its loss (what a model card's first-step loss is checked against).
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m hrcam.studies.learning",
                                     description=main.__doc__)  # fmt: skip
    parser.add_argument("task", choices=sorted(CURVE_DEFAULTS))
    parser.add_argument("--data", required=True, help="a cut-out store (hrcam data cutouts)")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-images", type=int, default=40)
    parser.add_argument("--points", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--first-step-only", action="store_true")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = Path(args.run_dir)
    classifier = _lite0_checkpoint(run_dir.parent)
    options = dict(CURVE_DEFAULTS[args.task])
    batch_size = options.pop("batch_size")
    if args.first_step_only:
        from hrcam.train import train_expansion, train_upsampler

        train = {"expansion": train_expansion, "upsampler": train_upsampler}[args.task]
        options.pop("checkpoint_every")
        result = train(data_root=args.data, run_dir=run_dir, classifier_checkpoint=classifier,
                       epochs=1, batch_size=batch_size, max_train_batches=1, seed=args.seed,
                       device="cpu", progress=False, resume=False,
                       **{**options, "max_val_batches": 1})  # fmt: skip
        print(json.dumps({"first_step_loss": float(result.final["train_loss"])}))
        return 0
    result = train_curve(args.task, data_root=args.data, run_dir=run_dir,
                         classifier_checkpoint=classifier, first_images=args.first_images,
                         points=args.points, batch_size=batch_size, seed=args.seed,
                         device="cpu", **options)  # fmt: skip
    print(result.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def ship_curve(
    task: str,
    run_dir: str | os.PathLike,
    points: list[dict[str, Any]],
    seeds: list[dict[str, Any]],
    *,
    name: str,
    data_command: str,
    train_command: str,
    first_step_loss: dict[str, Any],
    machine: str,
    folder: str | os.PathLike | None = None,
) -> Path:
    """Export a curve's last snapshot as shipped weights, with its model card.

    Parameters
    ----------
    task
        ``"expansion"`` or ``"upsampler"``.
    run_dir
        The :func:`train_curve` run; its last snapshot is shipped, its ``metrics.csv`` gives
        the training time.
    points, seeds
        The curve's scored points (:func:`curve_point` / :func:`upsampler_point`), fewest
        images first, and the same point for every training seed (the spread).
    name, data_command, train_command, first_step_loss, machine
        What the card says: the file stem, the commands that build the data and train, the
        first step's loss (``value`` and the ``tolerance`` measured for it) and where it ran.

    Returns
    -------
    pathlib.Path
        The weights file (:func:`hrcam.models.shipped.export_shipped`).
    """
    import csv

    from hrcam.models import load_checkpoint
    from hrcam.models.jbu import load_upsampler
    from hrcam.models.shipped import export_shipped

    run_dir = Path(run_dir)
    last = snapshot_paths(run_dir)[-1]
    classifier = load_checkpoint(run_dir.parent / "lite0_classifier.pt").classifier.eval()
    if task == "expansion":
        model = load_checkpoint(last).expansion
    else:
        model = load_upsampler(last, classifier)
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    seconds = sum(float(r["epoch_time_s"]) for r in rows)
    images = int(points[-1]["images_seen"])
    card = {
        "task": task,
        "train_command": train_command,
        "data_command": data_command,
        "images_seen": images,
        "training_seconds": round(seconds, 1),
        "seconds_per_1000_images": round(1000 * seconds / images, 1),
        "machine": machine,
        "first_step_loss": first_step_loss,
        "curve": points,
        "seeds": seeds,
    }
    if task == "expansion":
        card["val_psnr"] = float(points[-1]["val_psnr"])
    else:
        card["val_loss"] = float(points[-1]["val_loss"])
    return export_shipped(model, task, classifier, name, card, folder)
