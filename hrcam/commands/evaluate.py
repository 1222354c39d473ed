"""``hrcam evaluate``: localization and faithfulness of every method, as CSV and markdown."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from pathlib import Path
from typing import Any

from hrcam.commands import positive_int
from hrcam.errors import CLIError, ensure_output_dir


def _defaults() -> dict[str, Any]:
    """Every default the options show, read from where it is defined (never copied)."""
    from hrcam.evaluate import EvaluateConfig, evaluate_checkpoint, evaluate_sources

    out: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(EvaluateConfig)}
    for fn in (evaluate_checkpoint, evaluate_sources):
        for name, param in inspect.signature(fn).parameters.items():
            if param.default is not inspect.Parameter.empty:
                out.setdefault(name, param.default)
    return out


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
    parser.add_argument(
        "--split", default=d["split"], help=f"split to evaluate (default: {d['split']})"
    )
    parser.add_argument(
        "--limit", type=int, default=d["limit"], help="first N images only (default: all)"
    )
    parser.add_argument("-o", "--out", required=True, help="output folder")


def _add_methods(parser: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    from hrcam.evaluate import TARGETS, method_names

    names = method_names()
    parser.add_argument(
        "--methods",
        nargs="+",
        default=d["methods"],
        choices=list(names),
        metavar="METHOD",
        help=f"methods to compare (default: all): {', '.join(names)}",
    )
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default=d["target"],
        help=f"class each map explains: the prediction or the ground-truth label "
        f"(default: {d['target']})",
    )


def _add_metric_limits(parser: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    parser.add_argument(
        "--score-cam-limit",
        type=int,
        default=d["score_cam_limit"],
        help="Score-CAM on the first N images only; it costs one forward pass per channel of "
        f"its target layer per image (default {d['score_cam_limit']}; 0 skips it)",
    )
    parser.add_argument(
        "--faithfulness-limit",
        type=int,
        default=d["faithfulness_limit"],
        help="average drop / increase in confidence / deletion and insertion AUC on the first "
        f"N images only (default {d['faithfulness_limit']}; 0 skips them)",
    )
    parser.add_argument(
        "--deletion-steps",
        type=int,
        default=d["deletion_steps"],
        help=f"deletion/insertion steps (default {d['deletion_steps']})",
    )
    parser.add_argument(
        "--road-limit",
        type=int,
        default=d["road_limit"],
        help="ROAD (grad-cam's RemOve And Debias) on the first N images; each costs ~0.2 s per "
        f"percentile, method and image on one CPU core (default {d['road_limit']}: skipped)",
    )
    parser.add_argument(
        "--road-percentiles",
        type=float,
        nargs="+",
        default=list(d["road_percentiles"]),
        metavar="P",
        help="ROAD thresholds in (0, 100) (default "
        + " ".join(f"{p:g}" for p in d["road_percentiles"])
        + ")",
    )


def _add_sources(parser: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    from hrcam.evidence import SOURCES

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
    parser.add_argument(
        "--oracle-smoothness",
        type=float,
        default=d["oracle_smoothness"],
        help="oracle source: Gaussian blur sigma of the ground-truth mask in pixels "
        f"({d['oracle_smoothness']})",
    )
    parser.add_argument(
        "--oracle-noise",
        type=float,
        default=d["oracle_noise"],
        help=f"oracle source: share of uniform noise in [0, 1] ({d['oracle_noise']})",
    )


def _add_run_options(parser: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    parser.add_argument(
        "--batch-size",
        type=int,
        default=d["batch_size"],
        help=f"images per batch (default {d['batch_size']})",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=d["n_boot"],
        help=f"bootstrap resamples for CIs (default {d['n_boot']})",
    )
    parser.add_argument("--seed", type=int, default=d["seed"], help="bootstrap and tie-break seed")
    parser.add_argument(
        "--device", default=d["device"], help=f"torch device (default: {d['device']})"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=d["workers"],
        help="processes that post-process the refined CAMs "
        "(default: all available cores when there are more than 2, else 1)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hrcam evaluate``."""
    from hrcam.evaluate import evaluate_checkpoint

    for name in ("checkpoint", "data"):
        if not Path(getattr(args, name)).exists():
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
    result = evaluate_checkpoint(
        args.checkpoint,
        args.data,
        split=args.split,
        device=args.device,
        methods=args.methods,
        limit=args.limit,
        batch_size=args.batch_size,
        target=args.target,
        score_cam_limit=args.score_cam_limit,
        faithfulness_limit=args.faithfulness_limit,
        deletion_steps=args.deletion_steps,
        road_limit=args.road_limit,
        road_percentiles=args.road_percentiles,
        n_boot=args.bootstrap,
        seed=args.seed,
        progress=not args.no_progress,
        workers=args.workers,
    )
    paths = result.save(args.out)
    print(result.to_markdown())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    if args.sources is not None:
        _run_sources(args)
    return 0


def _run_sources(args: argparse.Namespace) -> None:
    """Run the high-res-source ablation of ``--sources`` into ``OUT/sources``."""
    from hrcam.evaluate import evaluate_sources, load_for_evaluation

    model, dataset = load_for_evaluation(args.checkpoint, args.data, args.split, args.device)
    study = evaluate_sources(
        model,
        dataset,
        sources=args.sources,
        limit=args.limit,
        batch_size=args.batch_size,
        target=args.target,
        oracle_smoothness=args.oracle_smoothness,
        oracle_noise=args.oracle_noise,
        n_boot=args.bootstrap,
        seed=args.seed,
        progress=not args.no_progress,
    )
    paths = study.save(Path(args.out) / "sources")
    print("\n## High-res-source ablation\n")
    print(study.to_markdown())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
