"""``hrcam data``: build dataset stores (synthetic, ImageNet animals, Pets, Imagenette/woof)."""

from __future__ import annotations

import argparse
from typing import Any

from hrcam.commands import non_negative_int, positive_int
from hrcam.errors import CLIError, ensure_output_dir


def _common(p: argparse.ArgumentParser, image_size: int) -> None:
    p.add_argument("--out", required=True, help="output store directory (created)")
    p.add_argument(
        "--image-size", type=positive_int, default=image_size, help=f"side in pixels ({image_size})"
    )
    p.add_argument("--shard-size", type=positive_int, default=1024, help="images per shard (1024)")
    p.add_argument(
        "--workers", type=non_negative_int, default=None, help="worker processes (all CPUs)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _store_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the store builders' keyword arguments for the options that :func:`_common` adds.

    Also checks ``--out`` first: a file in the way or an unwritable folder fails now, with the
    path named, before any image is read.
    """
    ensure_output_dir(args.out, "--out", create=False)
    return {
        "image_size": args.image_size,
        "shard_size": args.shard_size,
        "num_workers": args.workers,
        "progress": not args.no_progress,
    }


def _dataset_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the keyword arguments of :func:`hrcam.data.build_dataset`.

    The sub-command's own options (``dataset_options``, each flag named after the builder's
    parameter) and the store's.
    """
    options = {name: getattr(args, name) for name in args.dataset_options}
    if "splits" in options:
        options["splits"] = tuple(options["splits"])
    return {**options, **_store_options(args)}


def register(subparsers: Any) -> None:
    """Add ``hrcam data`` and its sub-commands."""
    from hrcam.data.registry import DATASETS  # names and one-line help; no builder imported

    data = subparsers.add_parser(
        "data",
        help="build dataset stores",
        description="Build a dataset store: sharded, memory-mappable uint8 arrays that "
        "training reads without decoding images again.",
    )
    sub = data.add_subparsers(dest="data_command", metavar="SOURCE")
    data.set_defaults(func=lambda args: (data.print_help(), 2)[1])

    p = sub.add_parser(
        "synthetic",
        help=DATASETS["synthetic"].help,
        description="Generate the built-in 'beetles' set: classes that differ in body "
        "pattern, pattern period and build, on cluttered backgrounds, with exact masks.",
    )
    _common(p, 128)
    p.add_argument("--num-train", type=non_negative_int, default=10_000, help="(10000)")
    p.add_argument("--num-val", type=non_negative_int, default=2_000, help="(2000)")
    p.add_argument("--num-classes", type=positive_int, default=8, help="2..12 (8)")
    p.add_argument("--seed", type=int, default=0, help="(0)")
    from hrcam.data.synthetic import VARIANTS

    p.add_argument(
        "--variant",
        choices=list(VARIANTS),
        default="default",
        help="what the set varies: "
        + "; ".join(f"{name}: {text}" for name, text in VARIANTS.items()).replace("%", "%%")
        + " (default: default)",
    )
    p.set_defaults(
        func=_synthetic,
        dataset_options=("num_train", "num_val", "seed", "num_classes", "variant"),
    )

    p = sub.add_parser(
        "imagenet",
        help=DATASETS["imagenet"].help,
        description="Convert the 398 ILSVRC-2012 animal classes to a 224x224 store. "
        "--root holds train/<wnid>/*.JPEG and val/ (foldered, or flat with --devkit or "
        "--val-labels). Unreadable files are skipped and listed in OUT/errors.tsv; an "
        "interrupted run resumes when re-run with the same arguments.",
    )
    p.add_argument("--root", required=True, help="ILSVRC-2012 folder (train/, val/)")
    _common(p, 224)
    p.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val"])
    p.add_argument("--devkit", default=None, help="ILSVRC2012_devkit_t12 folder (flat val/)")
    p.add_argument("--val-labels", default=None, help="'<file> <wnid>' lines (flat val/)")
    p.add_argument("--limit-per-class", type=positive_int, default=None, help="quick subsets")
    p.set_defaults(
        func=_convert, dataset_options=("splits", "devkit", "val_labels", "limit_per_class")
    )

    p = sub.add_parser(
        "pets",
        help=DATASETS["pets"].help,
        description="Convert a local Oxford-IIIT Pet copy (root/oxford-iiit-pet/...) via "
        "torchvision; trimaps become object masks (pet and border).",
    )
    p.add_argument("--root", required=True, help="folder containing oxford-iiit-pet/")
    _common(p, 224)
    p.set_defaults(func=_convert, dataset_options=())

    p = sub.add_parser(
        "imagenette",
        help=DATASETS["imagenette"].help,
        description="Convert a local Imagenette/Imagewoof copy (root/imagenette2-320/...).",
    )
    p.add_argument("--root", required=True, help="folder containing imagenette2*/imagewoof2*")
    _common(p, 224)
    p.add_argument("--variant", choices=["imagenette", "imagewoof"], default="imagenette")
    p.add_argument("--size", choices=["full", "320px", "160px"], default="320px")
    p.set_defaults(func=_convert, dataset_options=("variant", "size"))

    p = sub.add_parser("info", help="describe a store", description="Print a store's metadata.")
    p.add_argument("store", help="store directory")
    p.set_defaults(func=_info)


def _synthetic(args: argparse.Namespace) -> int:
    import time

    from hrcam.data import build_dataset
    from hrcam.data.synthetic import MAX_CLASSES

    if not 2 <= args.num_classes <= MAX_CLASSES:
        raise CLIError(f"--num-classes must be between 2 and {MAX_CLASSES}")
    t0 = time.perf_counter()
    info = build_dataset("synthetic", args.out, **_dataset_options(args)).info
    n = sum(info.count(s) for s in info.splits)
    dt = time.perf_counter() - t0
    variant = "" if args.variant == "default" else f", variant {args.variant}"
    print(f"wrote {n} images ({info.num_classes} classes{variant}) to {info.root} in {dt:.1f} s")
    return 0


def _convert(args: argparse.Namespace) -> int:
    """``hrcam data imagenet|pets|imagenette``: the real datasets, through build_dataset."""
    from hrcam.data import build_dataset

    report = build_dataset(args.data_command, args.out, root=args.root, **_dataset_options(args))
    print(report.summary())
    return 0


def _info(args: argparse.Namespace) -> int:
    from hrcam.data.store import check_store, open_store

    info = open_store(args.store)
    check_store(info)  # a missing or truncated shard is an error, not a healthy-looking store
    print(f"store {info.root}: {info.source.get('dataset', '?')}, {info.image_size} px")
    print(f"classes ({info.num_classes}): {', '.join(info.classes[:12])}")
    print(f"masks: {'yes' if info.has_masks else 'no'}")
    for split in info.splits:
        print(f"{split}: {info.count(split)} images in {len(info.splits[split]['shards'])} shards")
    return 0
