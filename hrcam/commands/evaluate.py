"""``hrcam evaluate``: localization and faithfulness of every method, as CSV and markdown."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hrcam.commands.options import add_option, positive_int, signature_defaults
from hrcam.errors import CLIError, ensure_output_dir
from hrcam.locking import folder_lock


def _defaults() -> dict[str, Any]:
    """Every default the options show, read from where it is defined (never copied)."""
    from hrcam.evaluate import EvaluateConfig, evaluate_checkpoint
    from hrcam.studies.ablation import evaluate_sources

    fields = {f.name: f.default for f in dataclasses.fields(EvaluateConfig)}
    return {**signature_defaults(evaluate_checkpoint, evaluate_sources), **fields}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure localization/faithfulness of refined CAMs and baselines",
        description="Score the low-res, high-res and refined CAMs and grad-cam's baselines on "
        "a store's held-out split against its ground-truth masks. Writes table.csv, "
        "per_image.csv, section5.csv, report.md, summary.json and curves.npz into OUT.",
    )
    defaults = _defaults()
    _add_inputs(parser, defaults)
    _add_methods(parser, defaults)
    _add_metric_limits(parser, defaults)
    _add_sources(parser, defaults)
    _add_run_options(parser, defaults)
    parser.set_defaults(func=run)


def _add_inputs(parser: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="hrcam checkpoint (classifier + expansion)"
    )
    parser.add_argument("--data", required=True, help="store directory with masks (hrcam data ...)")
    add_option(parser, d, "split", help="split to evaluate (default: %(default)s)")
    add_option(parser, d, "limit", type=int, help="first N images only (default: all)")
    parser.add_argument("-o", "--out", required=True, help="output folder")


def _add_methods(parser: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    from hrcam.evaluate import TARGETS
    from hrcam.methods.registry import method_names

    names = method_names()
    add_option(
        parser,
        d,
        "methods",
        nargs="+",
        choices=list(names),
        metavar="METHOD",
        help="methods to compare (default: all that this install can run, less sess and "
        f"featup_jbu, which run only when named): {', '.join(names)}",
    )
    add_option(
        parser,
        d,
        "target",
        choices=TARGETS,
        help="class each map explains: the prediction or the ground-truth label "
        "(default: %(default)s)",
    )


def _add_metric_limits(parser: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    add_option(
        parser,
        d,
        "score_cam_limit",
        type=int,
        help="Score-CAM on the first N images only; it costs one forward pass per channel of "
        "its target layer per image (default %(default)s; 0 skips it)",
    )
    add_option(
        parser,
        d,
        "faithfulness_limit",
        type=int,
        help="average drop / increase in confidence / deletion and insertion AUC on the first "
        "N images only (default %(default)s; 0 skips them)",
    )
    add_option(
        parser, d, "deletion_steps", type=int, help="deletion/insertion steps (default %(default)s)"
    )
    add_option(
        parser,
        d,
        "road_limit",
        type=int,
        help="ROAD (grad-cam's RemOve And Debias) on the first N images; each costs ~0.2 s per "
        "percentile, method and image on one CPU core (default %(default)s: skipped)",
    )
    add_option(
        parser,
        d,
        "road_percentiles",
        type=float,
        nargs="+",
        default=list(d["road_percentiles"]),
        metavar="P",
        help="ROAD thresholds in (0, 100) (default "
        + " ".join(f"{p:g}" for p in d["road_percentiles"])
        + ")",
    )


def _add_sources(parser: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    from hrcam.studies.sources import SOURCES

    parser.add_argument(
        "--sources",
        nargs="+",
        default=None,
        choices=[*SOURCES, "all"],
        metavar="SOURCE",
        help="also run the high-res-source ablation: the same post-processing with the "
        f"high-res map taken from each SOURCE ({', '.join(SOURCES)}, or all); written to "
        "OUT/sources/",
    )
    add_option(
        parser,
        d,
        "oracle_smoothness",
        type=float,
        help="oracle source: Gaussian blur sigma of the ground-truth mask in pixels (%(default)s)",
    )
    add_option(
        parser,
        d,
        "oracle_noise",
        type=float,
        help="oracle source: share of uniform noise in [0, 1] (%(default)s)",
    )


def _add_run_options(parser: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    parser.add_argument(
        "--upsampler",
        default=None,
        metavar="CKPT",
        help="a learned upsampler's best.pt (hrcam train upsampler) for method featup_jbu",
    )
    add_option(parser, d, "batch_size", type=int, help="images per batch (default %(default)s)")
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=d["n_boot"],
        help="bootstrap resamples for CIs (default %(default)s)",
    )
    add_option(parser, d, "seed", type=int, help="bootstrap and tie-break seed")
    add_option(parser, d, "device", help="torch device (default: %(default)s)")
    add_option(
        parser,
        d,
        "workers",
        type=positive_int,
        help="processes that post-process the refined CAMs "
        "(default: all available cores when there are more than 2, else 1)",
    )
    add_option(parser, d, "progress", "--no-progress", action="store_false", help="no progress bar")


def _set_by(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """Return the parsed values of the options among ``names``.

    Every option that sets a parameter or config field has that name as its ``dest``
    (:func:`~hrcam.commands.options.add_option`), so the values pass through by name; only
    ``--bootstrap`` is named otherwise, after what it does (``n_boot``).
    """
    values = {**vars(args), "n_boot": args.bootstrap}
    return {name: values[name] for name in names if name in values}


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hrcam evaluate``."""
    from hrcam.evaluate import EvaluateConfig, evaluate_checkpoint

    for name in ("checkpoint", "data", "upsampler"):
        if getattr(args, name) is not None and not Path(getattr(args, name)).exists():
            raise CLIError(f"--{name} {getattr(args, name)!r} does not exist")
    if args.sources is not None:
        if "all" in args.sources and len(args.sources) > 1:
            raise CLIError("--sources all cannot be combined with other sources")
        if len(set(args.sources)) != len(args.sources):
            raise CLIError(f"--sources must not repeat, got {' '.join(args.sources)}")
        if args.oracle_smoothness < 0:
            raise CLIError(f"--oracle-smoothness must be >= 0, got {args.oracle_smoothness}")
        if not 0.0 <= args.oracle_noise <= 1.0:
            raise CLIError(f"--oracle-noise must be in [0, 1], got {args.oracle_noise}")
    # Fail on a bad output folder now, not after the whole evaluation has run.
    ensure_output_dir(args.out, "--out")
    fields = (f.name for f in dataclasses.fields(EvaluateConfig))
    # Locked from now on: a second evaluate into this folder stops at once instead of
    # writing its results over this one's.
    with folder_lock(args.out, "--out"):
        result = evaluate_checkpoint(
            args.checkpoint, args.data, split=args.split, device=args.device,
            upsampler=args.upsampler, **_set_by(args, fields),
        )  # fmt: skip
        paths = result.save(args.out)
        print(result.to_markdown())
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
        if args.sources is not None:
            _run_sources(args)
    return 0


def _run_sources(args: argparse.Namespace) -> None:
    """Run the high-res-source ablation of ``--sources`` into ``OUT/sources``."""
    from hrcam.evaluate import load_for_evaluation
    from hrcam.studies.ablation import evaluate_sources

    model, dataset = load_for_evaluation(args.checkpoint, args.data, args.split, args.device)
    parameters = inspect.signature(evaluate_sources).parameters
    study = evaluate_sources(model, dataset, **_set_by(args, parameters))
    paths = study.save(Path(args.out) / "sources")
    print("\n## High-res-source ablation\n")
    print(study.to_markdown())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
