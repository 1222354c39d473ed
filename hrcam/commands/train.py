"""``hrcam train classifier ...`` and ``hrcam train expansion ...``.

Both run under ``torchrun`` unchanged (``torchrun --nproc_per_node=N -m hrcam train ...``):
the engine reads the torchrun environment, joins the process group and wraps the model in
DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

_EPILOG = """examples:
  hrcam data synthetic --out runs/data
  hrcam train classifier --data runs/data --run-dir runs/clf --epochs 8
  hrcam train expansion --data runs/data --run-dir runs/exp --classifier runs/clf/best.pt
  hrcam train expansion --data runs/photos --run-dir runs/exp-lite0 \
      --classifier timm:tf_efficientnet_lite0 --weights lite0.pth
  torchrun --nproc_per_node=4 -m hrcam train classifier --data /data/imagenet-animals \\
      --run-dir runs/clf --arch densenet121 --batch-size 64 --compile

A killed run continues where it stopped when the same command is run again (its
run folder's last.pt); --no-resume starts afresh instead."""


def _optional_bool(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    parser.add_argument(
        f"--{name}",
        dest=name.replace("-", "_"),
        action=argparse.BooleanOptionalAction,
        default=None,
        help=help_text + " (default: automatic)",
    )


def _add_common(parser: argparse.ArgumentParser, task: str) -> None:
    from hrcam.train.config import OPTIMIZERS, SCHEDULERS

    io = parser.add_argument_group("data and outputs")
    io.add_argument("--data", required=True, help="store folder (from `hrcam data ...`)")
    io.add_argument(
        "--run-dir",
        default=f"runs/{task}",
        help="output folder: metrics.csv/json, best.pt, last.pt (default: %(default)s)",
    )
    sched = parser.add_argument_group("schedule")
    sched.add_argument("--epochs", type=int, default=50, help="default: %(default)s (paper)")
    sched.add_argument("--batch-size", type=int, default=16, help="default: %(default)s")
    sched.add_argument("--val-batch-size", type=int, default=None)
    sched.add_argument("--optimizer", choices=OPTIMIZERS, default="adadelta")
    sched.add_argument("--lr", type=float, default=1.0, help="default: %(default)s (adadelta)")
    sched.add_argument("--weight-decay", type=float, default=0.0)
    sched.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default="plateau",
        help="ReduceLROnPlateau on the validation loss, or none (default: %(default)s)",
    )
    sched.add_argument("--plateau-factor", type=float, default=math.sqrt(0.1))
    sched.add_argument("--plateau-patience", type=int, default=10)
    sched.add_argument("--min-lr", type=float, default=1e-5)
    sched.add_argument("--seed", type=int, default=0)
    sched.add_argument(
        "--no-augment", dest="augment", action="store_false", help="switch augmentation off"
    )
    sched.add_argument("--augment-p", type=float, default=0.5, help="per-transform probability")
    sched.add_argument("--max-train-batches", type=int, default=None, help="cap per epoch")
    sched.add_argument("--max-val-batches", type=int, default=None, help="cap per validation")
    dev = parser.add_argument_group("device and speed")
    dev.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    _optional_bool(dev, "amp", "bf16 autocast")
    _optional_bool(dev, "channels-last", "NHWC memory format")
    dev.add_argument("--compile", action="store_true", help="torch.compile the model")
    dev.add_argument("--workers", type=int, default=None, help="DataLoader workers")
    ckpt = parser.add_argument_group("checkpoints")
    ckpt.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        help="also save last.pt every N steps inside an epoch (default: epoch ends only)",
    )
    ckpt.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start afresh even if the run folder has a last.pt (it is deleted)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false")


def _add_task(tasks: Any, task: str, help: str, description: str) -> argparse.ArgumentParser:
    """The ``hrcam train TASK`` parser with the options every task shares."""
    parser = tasks.add_parser(
        task,
        help=help,
        description=description,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(parser, task)
    return parser


def register(subparsers: Any) -> None:
    """Add ``hrcam train {classifier,expansion}``."""
    parser = subparsers.add_parser(
        "train",
        help="train the classifier (paper §4.2) or the expansion network (§4.3)",
        description="Train the CAM classifier, then the expansion network on top of it.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tasks = parser.add_subparsers(dest="train_task", metavar="TASK")
    parser.set_defaults(func=lambda _args: _missing_task(parser))

    clf = _add_task(
        tasks,
        "classifier",
        help="cross-entropy pre-training of the CAM classifier",
        description="Pre-train the CAM classifier (cross-entropy, adadelta, the paper's "
        "augmentation); validation top-1/top-5 every epoch; best.pt by top-1.",
    )
    model = clf.add_argument_group("model")
    model.add_argument(
        "--arch",
        default="densenet_compact",
        help="densenet_compact (CPU), densenet121 (paper), resnet50, ... (default: %(default)s)",
    )
    model.add_argument("--k", type=int, default=16, help="CAM head channels (default: 16)")
    model.add_argument("--pretrained", default=None, help="local backbone state-dict file")
    clf.set_defaults(func=run_train, train_task="classifier")

    exp = _add_task(
        tasks,
        "expansion",
        help="reconstruction training of the expansion network (classifier frozen)",
        description="Train the expansion network to reconstruct its input (MSE, adadelta) "
        "with the classifier frozen; validation MSE and PSNR every epoch.",
    )
    exp.add_argument(
        "--classifier",
        required=True,
        help="checkpoint of a trained classifier (a classifier run's best.pt), or a pretrained "
        "GAP+linear model by name: timm:NAME or torchvision:NAME (with --weights)",
    )
    exp.add_argument(
        "--weights",
        default=None,
        help="local state-dict file of the timm:/torchvision: model named by --classifier",
    )
    exp.add_argument(
        "--consistency-weight",
        type=float,
        default=0.0,
        metavar="W",
        help="weight of a loss tying the full-res CAM features, pooled to the low-res grid, to "
        "the frozen classifier's CAM features (default 0: the paper, reconstruction only)",
    )
    loc = exp.add_argument_group("localization during training")
    loc.add_argument(
        "--eval-every",
        type=int,
        default=0,
        metavar="N",
        help="every N epochs (and after the last) record PxAP, best-threshold mask IoU and "
        "fallback rate of the low-res, high-res and refined CAMs on held-out images with "
        "masks, as loc_* columns of metrics.csv (default 0: off)",
    )
    loc.add_argument(
        "--eval-images",
        type=int,
        default=64,
        metavar="N",
        help="validation images for --eval-every (default: %(default)s)",
    )
    exp.set_defaults(func=run_train, train_task="expansion")


def _missing_task(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~hrcam.train.TrainConfig` that the parsed arguments describe."""
    from hrcam.train.config import TrainConfig

    values: dict[str, Any] = {
        "task": args.train_task,
        "data_root": args.data,
        "run_dir": args.run_dir,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "val_batch_size": args.val_batch_size,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "scheduler": args.scheduler,
        "plateau_factor": args.plateau_factor,
        "plateau_patience": args.plateau_patience,
        "min_lr": args.min_lr,
        "seed": args.seed,
        "device": args.device,
        "amp": args.amp,
        "channels_last": args.channels_last,
        "compile": args.compile,
        "num_workers": args.workers,
        "augment": args.augment,
        "augment_p": args.augment_p,
        "max_train_batches": args.max_train_batches,
        "max_val_batches": args.max_val_batches,
        "checkpoint_every": args.checkpoint_every,
        "resume": args.resume,
        "progress": args.progress,
    }
    if args.train_task == "classifier":
        values.update(arch=args.arch, k=args.k, pretrained=args.pretrained)
    else:
        values["classifier_checkpoint"] = args.classifier
        values["consistency_weight"] = args.consistency_weight
        values.update(eval_every=args.eval_every, eval_images=args.eval_images)
        values["pretrained"] = args.weights
    return TrainConfig(**values)


def run_train(args: argparse.Namespace) -> int:
    """Run one training task and print its summary (rank 0 only under torchrun)."""
    import os

    from hrcam.errors import ensure_output_dir
    from hrcam.train import train_classifier, train_expansion

    config = config_from_args(args)
    ensure_output_dir(config.run_dir, "--run-dir", create=False)
    train = train_classifier if config.task == "classifier" else train_expansion
    result = train(config)
    if int(os.environ.get("RANK", "0")) == 0:
        print(result.summary())
    return 0
