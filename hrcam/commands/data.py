"""``hrcam data``: build dataset stores (synthetic, ImageNet animals, Pets, Imagenette/woof)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hrcam.commands.options import add_option, non_negative_int, positive_int, signature_defaults
from hrcam.errors import CLIError, ensure_output_dir
from hrcam.locking import folder_lock


def _builder_defaults(name: str) -> dict[str, Any]:
    """Return the default of every parameter of dataset ``name``'s builder (its signature).

    The builders' modules import no torch (torchvision is imported inside the functions), so
    reading them keeps ``hrcam --help`` cheap.
    """
    from hrcam.data.registry import DATASETS

    return signature_defaults(DATASETS[name].load())


def _common(p: argparse.ArgumentParser, defaults: Mapping[str, Any]) -> None:
    p.add_argument("--out", required=True, help="output store directory (created)")
    add_option(p, defaults, "image_size", type=positive_int, help="side in pixels (%(default)s)")
    add_option(p, defaults, "shard_size", type=positive_int, help="images per shard (%(default)s)")
    add_option(
        p, defaults, "num_workers", "--workers", type=non_negative_int,
        help="worker processes (default: all cores this process may use)",
    )  # fmt: skip
    # The CLI shows a progress bar unless told not to, whatever the builder's own default.
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
        "num_workers": args.num_workers,
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
    d = _builder_defaults("synthetic")
    _common(p, d)
    add_option(p, d, "num_train", type=non_negative_int, help="(%(default)s)")
    add_option(p, d, "num_val", type=non_negative_int, help="(%(default)s)")
    add_option(p, d, "num_classes", type=positive_int, help="2..12 (%(default)s)")
    add_option(p, d, "seed", type=int, help="(%(default)s)")
    from hrcam.data.synthetic import VARIANTS

    add_option(
        p,
        d,
        "variant",
        choices=list(VARIANTS),
        help="what the set varies: "
        + "; ".join(f"{name}: {text}" for name, text in VARIANTS.items()).replace("%", "%%")
        + " (default: %(default)s)",
    )
    p.set_defaults(
        func=_synthetic,
        dataset_options=("num_train", "num_val", "seed", "num_classes", "variant"),
    )

    _register_cutouts(sub)

    p = sub.add_parser(
        "imagenet",
        help=DATASETS["imagenet"].help,
        description="Convert the 398 ILSVRC-2012 animal classes to a 224x224 store. "
        "--root holds train/<wnid>/*.JPEG and val/ (foldered, or flat with --devkit or "
        "--val-labels). Unreadable files are skipped and listed in OUT/errors.tsv; an "
        "interrupted run resumes when re-run with the same arguments.",
    )
    p.add_argument("--root", required=True, help="ILSVRC-2012 folder (train/, val/)")
    d = _builder_defaults("imagenet")
    _common(p, d)
    add_option(p, d, "splits", nargs="+", default=list(d["splits"]), choices=["train", "val"])
    add_option(p, d, "devkit", help="ILSVRC2012_devkit_t12 folder (flat val/)")
    add_option(p, d, "val_labels", help="'<file> <wnid>' lines (flat val/)")
    add_option(p, d, "limit_per_class", type=positive_int, help="quick subsets")
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
    _common(p, _builder_defaults("pets"))
    p.set_defaults(func=_convert, dataset_options=())

    p = sub.add_parser(
        "imagenette",
        help=DATASETS["imagenette"].help,
        description="Convert a local Imagenette/Imagewoof copy (root/imagenette2-320/...).",
    )
    p.add_argument("--root", required=True, help="folder containing imagenette2*/imagewoof2*")
    d = _builder_defaults("imagenette")
    _common(p, d)
    add_option(p, d, "variant", choices=["imagenette", "imagewoof"])
    add_option(p, d, "size", choices=["full", "320px", "160px"])
    p.set_defaults(func=_convert, dataset_options=("variant", "size"))

    p = sub.add_parser("info", help="describe a store", description="Print a store's metadata.")
    p.add_argument("store", help="store directory")
    p.set_defaults(func=_info)


def _register_cutouts(sub: Any) -> None:
    """Add ``hrcam data cutouts`` (its options are the builder's parameters)."""
    from hrcam.data.cutouts import CUTOUT_PACKAGES
    from hrcam.data.registry import DATASETS

    p = sub.add_parser(
        "cutouts",
        help=DATASETS["cutouts"].help,
        description="Paste photographs of real animals cut out with an alpha channel "
        "(Debian's tuxpaint-stamps-default) on random crops of natural photographs without "
        "animals, with the exact mask (alpha > 0.5) and the animal's ImageNet class. Stamps "
        "and background photos are disjoint between train and val. Default sources are the "
        f"Debian packages {', '.join(CUTOUT_PACKAGES)}; an interrupted run resumes.",
    )
    d = _builder_defaults("cutouts")
    p.add_argument("--out", required=True, help="output store directory (created)")
    add_option(p, d, "stamps", help="stamps folder (default: Debian's tuxpaint stamps)")
    add_option(p, d, "backgrounds", help="folder of background photos (default: reviewed list)")
    add_option(p, d, "num_train", type=positive_int, help="(%(default)s)")
    add_option(p, d, "num_val", type=positive_int, help="(%(default)s)")
    add_option(p, d, "image_size", type=positive_int, help="side in pixels (%(default)s)")
    add_option(
        p, d, "object_scale", nargs=2, type=float, metavar=("LOW", "HIGH"),
        help="object's longer side as a fraction of the image side (%(default)s)",
    )  # fmt: skip
    add_option(
        p, d, "objects_per_image", type=positive_int, help="all but one distractors (%(default)s)"
    )
    add_option(p, d, "feather", type=float, help="paste-edge softening sigma, px (%(default)s)")
    add_option(p, d, "color_match", type=float, help="0..1 shift of object colour (%(default)s)")
    add_option(p, d, "val_fraction", type=float, help="stamps and photos held out (%(default)s)")
    add_option(p, d, "seed", type=int, help="(%(default)s)")
    add_option(p, d, "shard_size", type=positive_int, help="images per shard (%(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cutouts)


def _cutouts(args: argparse.Namespace) -> int:
    import time

    from hrcam.data import build_dataset

    ensure_output_dir(args.out, "--out", create=False)
    names = ("stamps", "backgrounds", "num_train", "num_val", "image_size", "objects_per_image")
    names += ("feather", "color_match", "val_fraction", "seed", "shard_size")
    options = {name: getattr(args, name) for name in names}
    t0 = time.perf_counter()
    with folder_lock(args.out, "--out"):
        info = build_dataset(
            "cutouts", args.out, object_scale=tuple(args.object_scale),
            progress=not args.no_progress, **options,
        ).info  # fmt: skip
    _print_skipped(info.source.get("skipped", []))
    n = sum(info.count(s) for s in info.splits)
    print(f"wrote {n} images to {info.root} in {time.perf_counter() - t0:.1f} s")
    return 0


def _print_skipped(skipped: Any, stream: Any = None) -> None:
    """Print ``hrcam: skipped FILE: reason`` for each (path, reason), as ``explain`` does."""
    from hrcam.explain.files import printable

    for path, reason in skipped:
        print(f"hrcam: skipped {printable(path)}: {printable(reason)}", file=stream or sys.stderr)


def _synthetic(args: argparse.Namespace) -> int:
    import time

    from hrcam.data import build_dataset
    from hrcam.data.synthetic import MAX_CLASSES

    if not 2 <= args.num_classes <= MAX_CLASSES:
        raise CLIError(f"--num-classes must be between 2 and {MAX_CLASSES}")
    t0 = time.perf_counter()
    options = _dataset_options(args)
    with folder_lock(args.out, "--out"):
        info = build_dataset("synthetic", args.out, **options).info
    n = sum(info.count(s) for s in info.splits)
    dt = time.perf_counter() - t0
    variant = "" if args.variant == "default" else f", variant {args.variant}"
    print(f"wrote {n} images ({info.num_classes} classes{variant}) to {info.root} in {dt:.1f} s")
    return 0


def _convert(args: argparse.Namespace) -> int:
    """``hrcam data imagenet|pets|imagenette``: the real datasets, through build_dataset."""
    from hrcam.data import build_dataset

    options = _dataset_options(args)
    with folder_lock(args.out, "--out"):
        report = build_dataset(args.data_command, args.out, root=args.root, **options)
    print(report.summary())
    return 0


def _info(args: argparse.Namespace) -> int:
    from hrcam.data.store import check_store, open_store

    info = open_store(args.store)
    check_store(info)  # a missing or truncated shard is an error, not a healthy-looking store
    # Stores name their dataset under "dataset", the cut-out builder's under "kind".
    name = info.source.get("dataset") or info.source.get("kind") or "unnamed dataset"
    print(f"store {info.root}: {name}, {info.image_size} px")
    print(f"classes ({info.num_classes}): {', '.join(info.classes[:12])}")
    print(f"masks: {'yes' if info.has_masks else 'no'}")
    for split in info.splits:
        print(f"{split}: {info.count(split)} images in {len(info.splits[split]['shards'])} shards")
    skipped = [tuple(item) for item in info.source.get("skipped", [])]
    errors = Path(info.root) / "errors.tsv"
    if errors.is_file():  # the image builders list their undecodable files there
        rows = errors.read_text(encoding="utf-8", errors="replace").splitlines()[1:]
        skipped += [tuple(row.split("\t", 1)) for row in rows if "\t" in row]
    print(f"skipped files: {len(skipped)}")
    _print_skipped(skipped, sys.stdout)
    return 0
