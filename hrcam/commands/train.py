"""``hrcam train classifier ...``, ``hrcam train expansion ...``, ``hrcam train upsampler ...``.

Both run under ``torchrun`` unchanged (``torchrun --nproc_per_node=N -m hrcam train ...``):
the training loop reads the torchrun environment, joins the process group and wraps the model in
DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hrcam.commands.options import add_option, positive_int

_EPILOG = """examples:
  hrcam data synthetic --out runs/data
  hrcam train classifier --data runs/data --run-dir runs/clf --epochs 8
  hrcam train expansion --data runs/data --run-dir runs/exp --classifier runs/clf/best.pt
  hrcam train upsampler --data runs/data --run-dir runs/ups --classifier runs/clf/best.pt
  hrcam train expansion --data runs/photos --run-dir runs/exp-lite0 \
      --classifier timm:tf_efficientnet_lite0 --weights lite0.pth
  torchrun --nproc_per_node=4 -m hrcam train classifier --data /data/imagenet-animals \\
      --run-dir runs/clf --arch densenet121 --batch-size 64 --compile

A killed run continues where it stopped when the same command is run again (its
run folder's last.pt); --no-resume starts afresh instead."""


def _option(group: Any, field: str, *flags: str, **kwargs: Any) -> None:
    """Add an option that sets the config field ``field`` (``dest=field``).

    Its default is read from :class:`~hrcam.train.TrainConfig` (said once, there); ``flags``
    default to the field's own option name (:func:`~hrcam.train.config.option_name`).
    """
    from hrcam.train.config import TrainConfig, option_name

    add_option(group, TrainConfig.defaults(), field, *(flags or (option_name(field),)), **kwargs)


def _add_common(parser: argparse.ArgumentParser, task: str) -> None:
    from hrcam.train.config import OPTIMIZERS, SCHEDULERS, default_run_dir

    io = parser.add_argument_group("data and outputs")
    _option(io, "data_root", required=True, help="store folder (from `hrcam data ...`)")
    _option(
        io,
        "run_dir",
        default=default_run_dir(task),
        help="output folder: metrics.csv/json, best.pt, last.pt (default: %(default)s)",
    )
    sched = parser.add_argument_group("schedule")
    _option(sched, "epochs", type=int, help="default: %(default)s (paper)")
    _option(sched, "batch_size", type=int, help="default: %(default)s")
    _option(sched, "val_batch_size", type=int)
    _option(sched, "optimizer", choices=OPTIMIZERS, help="default: %(default)s")
    _option(sched, "lr", type=float, help="default: %(default)s")
    _option(sched, "weight_decay", type=float)
    _option(
        sched,
        "scheduler",
        choices=SCHEDULERS,
        help="ReduceLROnPlateau on the validation loss, or none (default: %(default)s)",
    )
    _option(sched, "plateau_factor", type=float)
    _option(sched, "plateau_patience", type=int)
    _option(sched, "min_lr", type=float)
    _option(sched, "seed", type=int)
    _option(sched, "augment", "--no-augment", action="store_false", help="switch augmentation off")
    _option(sched, "augment_p", type=float, help="per-transform probability")
    _option(sched, "max_train_batches", type=int, help="cap per epoch")
    _option(sched, "max_val_batches", type=int, help="cap per validation")
    dev = parser.add_argument_group("device and speed")
    _option(dev, "device", help="auto, cpu, cuda or cuda:N")
    automatic = {"action": argparse.BooleanOptionalAction}
    _option(dev, "amp", **automatic, help="bf16 autocast (default: automatic)")
    _option(dev, "channels_last", **automatic, help="NHWC memory format (default: automatic)")
    _option(dev, "compile", action="store_true", help="torch.compile the model")
    _option(dev, "num_workers", type=int, help="DataLoader workers")
    ckpt = parser.add_argument_group("checkpoints")
    _option(
        ckpt,
        "checkpoint_every",
        type=int,
        help="also save last.pt every N steps inside an epoch (default: epoch ends only)",
    )
    _option(
        ckpt,
        "resume",
        "--no-resume",
        action="store_false",
        help="start afresh even if the run folder has a last.pt (it is deleted)",
    )
    _option(parser, "progress", "--no-progress", action="store_false")


def _add_task(tasks: Any, task: str, help: str, description: str) -> argparse.ArgumentParser:
    """Add the ``hrcam train TASK`` parser with the options every task shares."""
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
    """Add ``hrcam train {classifier,expansion,upsampler}``."""
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
    _option(
        model,
        "arch",
        help="densenet_compact (CPU), densenet121 (paper), resnet50, ... (default: %(default)s)",
    )
    _option(model, "k", type=int, help="CAM head channels (default: %(default)s)")
    _option(model, "pretrained", help="local backbone state-dict file")
    clf.set_defaults(func=run_train, train_task="classifier")

    exp = _add_task(
        tasks,
        "expansion",
        help="reconstruction training of the expansion network (classifier frozen)",
        description="Train the expansion network to reconstruct its input (MSE, adadelta) "
        "with the classifier frozen; validation MSE and PSNR every epoch.",
    )
    _option(
        exp,
        "classifier_checkpoint",
        required=True,
        help="checkpoint of a trained classifier (a classifier run's best.pt), or a pretrained "
        "GAP+linear model by name: timm:NAME or torchvision:NAME (with --weights)",
    )
    _option(
        exp,
        "pretrained",
        "--weights",
        help="local state-dict file of the timm:/torchvision: model named by --classifier",
    )
    _option(
        exp,
        "consistency_weight",
        type=float,
        metavar="W",
        help="weight of a loss tying the full-res CAM features, pooled to the low-res grid, to "
        "the frozen classifier's CAM features (default %(default)s: the paper, "
        "reconstruction only)",
    )
    _add_network_shape(exp)
    loc = exp.add_argument_group("localization during training")
    _option(
        loc,
        "eval_every",
        type=int,
        metavar="N",
        help="every N epochs (and after the last) record PxAP, best-threshold mask IoU and "
        "fallback rate of the low-res, high-res and refined CAMs on held-out images with "
        "masks, as loc_* columns of metrics.csv (default %(default)s: off)",
    )
    _option(
        loc,
        "eval_images",
        type=int,
        metavar="N",
        help="validation images for --eval-every (default: %(default)s)",
    )
    exp.set_defaults(func=run_train, train_task="expansion")

    _register_upsampler(tasks)


def _add_network_shape(exp: Any) -> None:
    """Add the expansion network's shape options: its dense blocks and its map's classes."""
    for field, what in (("growth_rate", "growth rate"), ("layers_per_block", "layers")):
        _option(
            exp,
            field,
            type=positive_int,
            metavar="N",
            help=f"expansion network's dense-block {what} (default %(default)s, the reference "
            "code's; smaller is a cheaper network than the paper's)",
        )
    _option(
        exp,
        "cam_classes",
        metavar="CLASSES",
        help="for a classifier with more than 64 CAM channels: the classes whose high-res CAM "
        "is exact, 'imagenet-animals' or indices such as '0-397' (default: every class)",
    )
    _option(
        exp,
        "cam_rank",
        type=positive_int,
        metavar="R",
        help="opt-in low-rank full-resolution map of R channels (default: exact, nothing "
        "dropped; the reference code's CAM head is 16 wide)",
    )


def _register_upsampler(tasks: Any) -> None:
    """Add ``hrcam train upsampler`` (the learned JBU of method ``featup_jbu``)."""
    ups = _add_task(
        tasks,
        "upsampler",
        help="multi-view training of a learned JBU upsampler (FeatUp-style; classifier frozen)",
        description="Train a FeatUp-style learned joint bilateral upsampler of the frozen "
        "classifier's CAM features (method featup_jbu) by multi-view reconstruction: jittered "
        "high-res features, downsampled, must match the classifier's features of the jittered "
        "image. No labels are used; the multi-view jitter replaces the paper's augmentation.",
    )
    _option(
        ups,
        "classifier_checkpoint",
        required=True,
        help="checkpoint holding the trained classifier (a classifier run's best.pt, or an "
        "expansion checkpoint, whose classifier is used)",
    )
    from hrcam.train.config import TASK_DEFAULTS

    # FeatUp's optimiser (NAdam, lr 1e-3), not the paper's adadelta: --help shows these.
    ups.set_defaults(func=run_train, train_task="upsampler", **TASK_DEFAULTS["upsampler"])


def _missing_task(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def config_from_args(args: argparse.Namespace) -> Any:
    """Build the :class:`~hrcam.train.TrainConfig` that the parsed arguments describe.

    Every option's ``dest`` is its config field; fields a task has no option for keep their
    defaults.
    """
    import dataclasses

    from hrcam.train.config import TrainConfig

    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if hasattr(args, f.name)
    }
    return TrainConfig(**{**values, "task": args.train_task})


def run_train(args: argparse.Namespace) -> int:
    """Run one training task and print its summary (rank 0 only under torchrun)."""
    import os

    from hrcam.errors import ensure_output_dir
    from hrcam.train import train_classifier, train_expansion, train_upsampler
    from hrcam.train.callbacks import callbacks_from_env

    config = config_from_args(args)
    ensure_output_dir(config.run_dir, "--run-dir", create=False)
    tasks = {
        "classifier": train_classifier,
        "expansion": train_expansion,
        "upsampler": train_upsampler,
    }
    train = tasks[config.task]
    # The edge where the test-only kill switch (an environment variable) becomes a callback.
    result = train(config, callbacks=callbacks_from_env())
    if int(os.environ.get("RANK", "0")) == 0:
        print(result.summary())
    return 0
