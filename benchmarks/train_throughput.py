"""Training throughput: the real data pipeline against the compute ceiling, in one run.

For each task (classifier pre-training, expansion training) it times, on the same model and
device:

* **ceiling** -- the training step (autocast forward, fp32 loss, backward, adadelta) on a
  random, already-normalised batch that sits in device memory;
* **pipeline** -- the real step of ``hrcam.train.fit``: store (memmap) -> DataLoader (batched
  reads, pinned memory) -> device copy -> augmentation on the device -> normalisation ->
  the same training step,

prints images/s of both and their ratio (the target on a GPU is >= 0.9), and the wall time a
paper-scale run (50 + 50 epochs of 396,416 images) would take at the measured pipeline rates.

It also times the **loader alone** (store -> DataLoader -> device copy, no model): the rate the
data side can deliver with these workers. Run on any machine with the GPU settings, e.g.
``--tasks loader --image-size 224 --batch-size 256 --workers 2``, it says how many images per
second per worker the data side costs, independently of the model.

Defaults follow the device: on CPU the demo settings (compact DenseNet, 128 px, batch 32);
on CUDA DenseNet-121 at 224 px, batch 256, bf16 + channels_last (+ ``--compile``)::

    python benchmarks/train_throughput.py                      # CPU demo settings
    python benchmarks/train_throughput.py --compile --json out.json   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PAPER_TRAIN_IMAGES = 396_416
PAPER_EPOCHS = (50, 50)  # classifier, expansion network


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="store folder (default: generate one)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--arch", default=None, help="default: densenet_compact / densenet121")
    parser.add_argument("--image-size", type=int, default=None, help="default: 128 / 224")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 32 / 256")
    parser.add_argument("--num-classes", type=int, default=8, help="for a generated store")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 8 / 40)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 2 / 10)")
    parser.add_argument(
        "--tasks",
        default="loader,classifier,expansion",
        help="comma-separated: loader (data side alone), classifier, expansion",
    )
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", default=None, help="also write the results here")
    return parser.parse_args(argv)


def _store(args: argparse.Namespace, image_size: int, needed: int, tmp: Path) -> Path:
    from hrcam.data import generate_synthetic

    if args.data is not None:
        return Path(args.data)
    root = tmp / "store"
    started = time.perf_counter()
    generate_synthetic(
        root,
        num_train=needed,
        num_val=0,
        image_size=image_size,
        num_classes=args.num_classes,
        shard_size=1024,
    )
    print(
        f"generated a synthetic store of {needed} images at {image_size} px in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return root


def _rate(run_step: Any, batches: Any, warmup: int, steps: int, batch_size: int, device) -> float:
    """Images per second over ``steps`` steps after ``warmup`` untimed ones."""
    from hrcam.train.device import synchronize

    iterator = iter(batches)
    for _ in range(warmup):
        run_step(*next(iterator))
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        loss = run_step(*next(iterator))
    float(loss.detach())  # waits for the last step, as synchronize does
    synchronize(device)
    return steps * batch_size / (time.perf_counter() - started)


def _cycle_loader(dataset: Any, batch_size: int, settings: Any) -> Any:
    """The engine's loader and device prefetcher, epoch after epoch."""
    from hrcam.train.loaders import DevicePrefetcher, ResumableSampler, make_loader

    sampler = ResumableSampler(len(dataset), seed=0)
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        loader = make_loader(dataset, sampler, batch_size, settings, seed=epoch)
        yield from DevicePrefetcher(loader, settings.device)
        epoch += 1


def measure_loader(args: argparse.Namespace, dataset: Any, settings: Any) -> dict:
    """Images/s the data side alone delivers to the device (no model, no augmentation)."""

    def consume(images: Any, targets: Any) -> Any:
        return images[:1, :1, :1, :1]  # on the device already; _rate waits for it

    rate = _rate(
        consume,
        _cycle_loader(dataset, args.batch_size, settings),
        args.warmup,
        args.steps,
        args.batch_size,
        settings.device,
    )
    return {"task": "loader", "loader_img_s": rate}


def measure_task(name: str, args: argparse.Namespace, dataset: Any, settings: Any) -> dict:
    """Ceiling and pipeline img/s of one task."""
    import torch

    from hrcam.models import HRCAM, build_classifier, build_expansion
    from hrcam.train.config import TrainConfig
    from hrcam.train.device import maybe_compile, prepare_module, to_memory_format
    from hrcam.train.expansion import ExpansionTask
    from hrcam.train.loop import build_optimizer, optimizer_step, train_step
    from hrcam.train.tasks import ImageTask

    torch.manual_seed(0)
    classifier = build_classifier(args.arch, num_classes=len(dataset.classes))
    if name == "classifier":
        from hrcam.train.classifier import ClassifierTask

        task: ImageTask = ClassifierTask(classifier)
    else:
        model = HRCAM(classifier, build_expansion(classifier, image_size=args.image_size))
        task = ExpansionTask(model)
    task.set_train_mode()
    prepare_module(task.model, settings)
    optimizer = build_optimizer(task.trainable_parameters(), TrainConfig())
    module = maybe_compile(task.forward_module(), settings)
    device, b, s = settings.device, args.batch_size, args.image_size
    generator = torch.Generator().manual_seed(0)

    # Ceiling: random, already normalised data resident on the device; no loader, no
    # augmentation, no normalisation.
    inputs = to_memory_format(torch.randn(b, 3, s, s, device=device), settings)
    labels = torch.randint(0, len(dataset.classes), (b,), device=device)

    def ceiling_step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return optimizer_step(task, module, optimizer, x, y, settings)

    def resident():
        while True:
            yield inputs, labels

    ceiling = _rate(ceiling_step, resident(), args.warmup, args.steps, b, device)

    def pipeline_step(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return train_step(task, module, optimizer, images, targets, settings, generator)

    batches = _cycle_loader(dataset, b, settings)
    pipeline = _rate(pipeline_step, batches, args.warmup, args.steps, b, device)
    return {"task": name, "ceiling_img_s": ceiling, "pipeline_img_s": pipeline}


def main(argv: list[str] | None = None) -> int:
    import torch

    from hrcam.data import StoreDataset
    from hrcam.train.device import resolve_settings

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = resolve_settings(
        args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        num_workers=args.workers,
    )
    cuda = settings.is_cuda
    args.arch = args.arch or ("densenet121" if cuda else "densenet_compact")
    args.image_size = args.image_size or (224 if cuda else 128)
    args.batch_size = args.batch_size or (256 if cuda else 32)
    args.steps = args.steps or (40 if cuda else 8)
    args.warmup = args.warmup if args.warmup is not None else (10 if cuda else 2)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - {"loader", "classifier", "expansion"})
    if unknown or not tasks:
        raise SystemExit(
            f"--tasks: unknown task(s) {unknown}; use loader, classifier and/or expansion"
        )
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    with tempfile.TemporaryDirectory(prefix="hrcam-bench-") as tmp:
        # Enough images that the timed steps read fresh data (one epoch, no loader restart).
        needed = (args.warmup + args.steps + 2) * args.batch_size
        dataset = StoreDataset(_store(args, args.image_size, needed, Path(tmp)), "train")
        if dataset.image_size != args.image_size:
            raise SystemExit(
                f"--image-size {args.image_size} but the store at {args.data} holds "
                f"{dataset.image_size} px images"
            )
        loader = measure_loader(args, dataset, settings) if "loader" in tasks else None
        results = [
            measure_task(name, args, dataset, settings) for name in tasks if name != "loader"
        ]

    header = (
        f"device {settings.device} ({torch.get_num_threads()} CPU threads), {args.arch} at "
        f"{args.image_size} px, batch {args.batch_size}, amp={settings.amp}, "
        f"channels_last={settings.channels_last}, compile={settings.compile}, "
        f"workers={settings.num_workers}, {args.steps} timed steps"
    )
    print(header)
    if results:
        print(f"{'task':<12}{'ceiling img/s':>16}{'pipeline img/s':>16}{'ratio':>8}")
    for row in results:
        row["ratio"] = row["pipeline_img_s"] / row["ceiling_img_s"]
        print(
            f"{row['task']:<12}{row['ceiling_img_s']:>16,.1f}{row['pipeline_img_s']:>16,.1f}"
            f"{row['ratio']:>8.2f}"
        )
    if loader is not None:
        rate = loader["loader_img_s"]
        per_worker = rate / max(settings.num_workers, 1)
        line = (
            f"loader alone: {rate:,.1f} img/s with {settings.num_workers} workers "
            f"({per_worker:,.1f} img/s per worker)"
        )
        for row in results:
            line += f"; {rate / row['ceiling_img_s']:.2f}x the {row['task']} ceiling"
        print(line)
    rates = {row["task"]: row["pipeline_img_s"] for row in results}
    estimate_s = None
    if {"classifier", "expansion"} <= set(rates):
        estimate_s = PAPER_EPOCHS[0] * PAPER_TRAIN_IMAGES / rates["classifier"]
        estimate_s += PAPER_EPOCHS[1] * PAPER_TRAIN_IMAGES / rates["expansion"]
        print(
            f"paper-scale run (50 + 50 epochs of {PAPER_TRAIN_IMAGES:,} images) at these "
            f"pipeline rates: {estimate_s / 3600:,.1f} h of training steps (validation extra)"
        )
        if not cuda:
            print("  (measured with the CPU demo settings; the paper scale needs a GPU)")
    if args.json:
        payload: dict[str, Any] = {
            "settings": header,
            "device": str(settings.device),
            "arch": args.arch,
            "image_size": args.image_size,
            "batch_size": args.batch_size,
            "results": results,
            "loader_img_s": None if loader is None else loader["loader_img_s"],
            "workers": settings.num_workers,
            "paper_scale_estimate_s": estimate_s,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
