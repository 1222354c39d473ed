"""``hrcam explain IMAGE...``: refined CAMs and Fig.-4 panels, or any method's maps, for images."""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from hrcam.commands.options import LazyChoices, add_option, positive_int, signature_defaults


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that pick the model (checkpoint or bare classifier) and the methods."""
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="hrcam checkpoint: classifier + expansion network, or a classifier alone (then "
        "name --methods that need no expansion network)",
    )
    parser.add_argument(
        "--classifier",
        default=None,
        metavar="ZOO:NAME",
        help="explain with a bare pretrained model instead of --checkpoint: timm:NAME or "
        "torchvision:NAME, with --weights",
    )
    parser.add_argument(
        "--weights", default=None, help="local state-dict file of the --classifier model"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        choices=LazyChoices("hrcam.methods", "ALL_METHODS"),
        metavar="METHOD",
        help="registered methods to draw, one map file per method and one panel per image: "
        "%(choices)s (default: the paper's refined CAM, as without this option)",
    )
    parser.add_argument(
        "--image-size",
        type=positive_int,
        default=None,
        help="model input side with --methods or --classifier (default: the checkpoint's, "
        "else 224)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``explain`` sub-command."""
    from hrcam.explain import (  # no torch at import time
        DEFAULT_MAX_PIXELS,
        PRECISIONS,
        explain_images,
    )

    # The defaults are explain_images' own, so that the CLI and the Python call agree.
    default = signature_defaults(explain_images)

    parser = subparsers.add_parser(
        "explain",
        help="refined CAMs (PNG, .npy) and Fig.-4 panels for image files",
        description="Explain any Pillow-readable images (any size; grayscale and RGBA too). "
        "Each is resized for the model; the maps are written at its original resolution. A "
        "file that cannot be read is reported and skipped; the others are still written.",
    )
    parser.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files, or folders of image files"
    )
    _add_model_options(parser)
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument(
        "--class",
        dest="classes",
        default=None,
        help="class to explain (index or name) for every image; default: the predicted class",
    )
    add_option(
        parser,
        default,
        "preset",
        choices=LazyChoices("hrcam.postprocess.config", "PRESETS"),
        metavar="PRESET",
        help="post-processing preset: %(choices)s (default: %(default)s)",
    )
    add_option(
        parser,
        default,
        "batch_size",
        type=positive_int,
        help="images per batch (default %(default)s)",
    )
    add_option(parser, default, "device", help="torch device (default: %(default)s)")
    add_option(
        parser,
        default,
        "precision",
        choices=list(PRECISIONS),
        help="float32 gives the exact maps; bfloat16-expansion runs the expansion network in "
        "bfloat16 (same predictions and low-res CAMs, faster on CPUs with AVX512-BF16 and on "
        "GPUs); bfloat16 autocasts both networks (default: %(default)s)",
    )
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        help="skip images with more pixels than this, read from the header before decoding "
        f"(default {DEFAULT_MAX_PIXELS:,})",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="processes that post-process the maps "
        "(default: all available cores when there are more than 2, else 1)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that already exist (outputs never replace an input image)",
    )
    parser.add_argument(
        "--imagenet-animals",
        action="store_true",
        help="predict only among the paper's 398 ImageNet animal classes (ImageNet-1k models)",
    )
    add_option(
        parser, default, "progress", "--no-progress", action="store_false", help="no progress bar"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hrcam explain``; exit status 1 when some images were skipped."""
    from hrcam.core.maps import ClassIndexError
    from hrcam.errors import CLIError
    from hrcam.explain import explain_images
    from hrcam.explain.files import printable

    allowed = None
    if args.imagenet_animals:
        from hrcam.models.wrap import imagenet_animal_indices

        allowed = imagenet_animal_indices()
    if args.methods is not None or args.classifier is not None:
        return _run_methods(args, allowed)
    if args.checkpoint is None:
        raise CLIError(
            "give --checkpoint CKPT (an hrcam checkpoint) or --classifier timm:NAME|"
            "torchvision:NAME with --weights FILE and --methods"
        )
    if args.weights is not None or args.image_size is not None:
        raise CLIError("--weights and --image-size go with --classifier or --methods")
    # Options whose flag is named after explain_images' parameter pass through as they are.
    same = (
        "classes",
        "preset",
        "batch_size",
        "device",
        "max_pixels",
        "overwrite",
        "workers",
        "precision",
    )
    from hrcam.models.checkpoint import NoExpansionError

    try:
        report = explain_images(
            args.images,
            args.checkpoint,
            args.out,
            progress=args.progress,
            allowed_classes=allowed,
            **{name: getattr(args, name) for name in same},
        )
    except NoExpansionError:
        raise CLIError(
            f"{args.checkpoint} holds only a classifier, and the paper's refined CAM needs an "
            "expansion network: pass --methods with methods that need none (e.g. --methods "
            "low_res_cam cam_jbu), or a checkpoint with an expansion network"
        ) from None
    except ClassIndexError as exc:
        _animals_refusal(exc, allowed, args.checkpoint)
    for w in report.written:
        name = w.class_name or f"class {w.label}"
        note = " (fell back to the low-res CAM)" if w.fallback else ""
        print(
            f"{printable(w.path)}: {name} p={w.probability:.2f}{note} -> "
            f"{printable(w.refined_png)}, {printable(w.panel)}"
        )
    return _summary(report, "explained", args.out)


def _animals_refusal(exc: Exception, allowed: list[int] | None, source: str) -> NoReturn:
    """Re-raise a class-index error, as the --imagenet-animals line when that caused it."""
    from hrcam.errors import CLIError

    if allowed is None:
        raise exc
    raise CLIError(
        f"--imagenet-animals needs an ImageNet-1k model (1000 classes); {source} "
        f"has {getattr(exc, 'num_classes', '?')}: leave --imagenet-animals out"
    ) from None


def _run_methods(args: argparse.Namespace, allowed: list[int] | None) -> int:
    """``hrcam explain --methods ...`` / ``--classifier ...``: any registered method's maps."""
    from hrcam.core.maps import ClassIndexError
    from hrcam.errors import CLIError
    from hrcam.explain.files import printable
    from hrcam.methods.images import explain_methods, load_explain_model

    if args.preset != "paper" or args.precision != "float32":
        raise CLIError(
            "--preset and --precision apply to the default refined CAM; with --methods name "
            "refined_paper or refined_reference instead"
        )
    loaded = load_explain_model(
        args.checkpoint,
        classifier=args.classifier,
        weights=args.weights,
        image_size=args.image_size,
        device=args.device,
    )
    try:
        report = explain_methods(
            args.images,
            loaded,
            args.out,
            args.methods,
            classes=args.classes,
            batch_size=args.batch_size,
            progress=args.progress,
            max_pixels=args.max_pixels,
            overwrite=args.overwrite,
            workers=args.workers,
            allowed_classes=allowed,
        )
    except ClassIndexError as exc:
        _animals_refusal(exc, allowed, loaded.source)
    for w in report.written:
        name = w.class_name or f"class {w.label}"
        maps = ", ".join(printable(m["png"]) for m in w.maps.values())
        print(f"{printable(w.path)}: {name} p={w.probability:.2f} -> {maps}, {printable(w.panel)}")
    return _summary(report, f"explained with {', '.join(report.methods)}", args.out)


def _summary(report: Any, explained: str, out: str) -> int:
    """Print each skipped image (stderr) and the closing count; exit 1 if any was skipped."""
    from hrcam.explain.files import printable

    for s in report.skipped:
        print(f"hrcam: skipped {printable(s.path)}: {printable(s.reason)}", file=sys.stderr)
    print(
        f"{len(report.written)} {explained}, {len(report.skipped)} skipped; "
        f"report: {out}/report.json"
    )
    return 1 if report.skipped else 0
