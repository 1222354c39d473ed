"""``hrcam book``: execute every notebook with papermill and build the Jupyter Book."""

from __future__ import annotations

import argparse

from hrcam.errors import CLIError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``book`` sub-command."""
    from hrcam.book.profiles import DEFAULT_PROFILE, PROFILES

    parser = subparsers.add_parser(
        "book",
        help="run every notebook (papermill) and build the book (jupyter-book)",
        description="Execute notebooks/*.py with papermill into book/notebooks/ using a named "
        "parameter profile, then run `jupyter-book build book/ -W`. Notebooks whose source, "
        "parameters and inputs are unchanged since their last run are skipped.",
    )
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        choices=sorted(PROFILES),
        help=f"parameter profile (default: {DEFAULT_PROFILE})",
    )
    parser.add_argument(
        "--run-dir",
        default=None,
        help="run folder shared by the notebooks (default: ROOT/runs/PROFILE)",
    )
    parser.add_argument(
        "--root",
        default=None,
        help="the hrcam checkout to build (default: the one holding the current folder)",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override one profile parameter (repeatable), e.g. -p classifier_epochs 3",
    )
    parser.add_argument(
        "--notebook",
        action="append",
        default=None,
        metavar="STEM",
        help="run only this notebook, e.g. 04_postprocess (repeatable)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="rerun every notebook, e.g. after editing the hrcam code",
    )
    parser.add_argument(
        "--no-build", action="store_true", help="execute the notebooks but skip jupyter-book"
    )
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``hrcam book``."""
    from hrcam.book.runner import run_book

    names = [name for name, _ in args.parameter]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CLIError(f"parameter(s) given twice with -p: {', '.join(duplicates)}")
    result = run_book(
        profile=args.profile,
        run_dir=args.run_dir,
        overrides=dict(args.parameter),
        root=args.root,
        force=args.force,
        only=args.notebook,
        build=not args.no_build,
        progress=not args.no_progress,
    )
    ran = sum(r.status == "ran" for r in result.notebooks)
    print(f"{ran} notebook(s) executed, {len(result.notebooks) - ran} unchanged")
    if result.html_index is not None:
        print(f"open {result.html_index}")
    return 0
