"""Chapters that need data outside the wheel: checked before a book run, or skipped by name.

The real cut-out chapter and the photo-faithfulness chapter read Debian packages (``make
book`` installs them as root). Without them, :func:`check_chapter_sources` stops ``hrcam
book`` before any notebook runs, naming the packages and the one parameter that skips each
chapter; a chapter skipped that way gets the page :func:`skipped_chapter` writes instead of
an executed notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hrcam.atomic import atomic_write_text
from hrcam.book import profiles
from hrcam.book.chapters import CHAPTERS, chapter
from hrcam.errors import HrcamError

__all__ = ["check_chapter_sources", "optional_configs", "skipped_chapter"]


def optional_configs(
    profile: str, overrides: Mapping[str, Any], declared: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, Any]]:
    """Resolve the parameters of each optional chapter that ``declared`` holds, by stem.

    ``declared`` maps notebook stems to the names their parameters cells assign; each chapter
    gets the overrides it declares. The runner resolves them once, for the check below and for
    the chapters it skips.
    """
    return {
        c.notebook: profiles.resolve(
            profile,
            [n for n in declared[c.notebook] if n not in ("profile", "run_dir")],
            **{k: v for k, v in overrides.items() if k in declared[c.notebook]},
        )
        for c in CHAPTERS
        if c.optional and c.notebook in declared
    }


def check_chapter_sources(
    configs: Mapping[str, Mapping[str, Any]], only: Sequence[str] | None
) -> None:
    """Refuse, before any notebook runs, a chapter whose Debian packages are missing.

    Each optional chapter of :data:`hrcam.book.chapters.CHAPTERS` that this run executes (and
    that is not skipped by its parameter) is checked; without its packages the run would
    fail an hour in. The message names, per chapter, what to install and the one parameter
    that skips it.

    Parameters
    ----------
    configs
        The resolved parameters of the optional chapters (:func:`optional_configs`).
    only
        The notebook stems this run executes (``None``: all).
    """
    problems = []
    for stem, cfg in configs.items():
        record = chapter(stem)
        if record.needs is None or (only is not None and stem not in only):
            continue
        flag = record.optional
        if not cfg[flag]:
            continue
        missing = record.needs(cfg)
        if missing:
            problems.append(
                f"the chapter '{record.title}' ({stem}) needs the Debian package(s) "
                f"{' '.join(missing)}: sudo apt-get install {' '.join(missing)} (`make book` "
                f"installs them when run as root), or skip the chapter with -p {flag} false"
            )
    if problems:
        raise HrcamError("; ".join(problems))


def skipped_chapter(path: Path, stem: str, flag: str, cfg: Mapping[str, Any] | None = None) -> Path:
    """Write the page of a chapter that was skipped with ``-p FLAG false`` (no code runs).

    The page says that the chapter was skipped on request; only when ``cfg`` (the chapter's
    resolved parameters) shows that it also lacks Debian packages does it name them.
    """
    import nbformat

    title = stem.split("_", 1)[1].replace("_", " ").capitalize()
    needs = chapter(stem).needs
    missing = needs(cfg) if cfg is not None and needs is not None else []
    text = (
        f"# {title}\n\nThis chapter was skipped in this run (`-p {flag} false`), as requested, "
        "so it shows nothing, and the claims page answers only from the chapters that ran. Rerun "
        f"`hrcam book` without `-p {flag} false` to add it."
    )
    if missing:
        text += (
            f" It also needs the Debian package(s) {', '.join(missing)}, which are not "
            f"installed: sudo apt-get install {' '.join(missing)} (see the README)."
        )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    atomic_write_text(path, nbformat.writes(nb))
    return path
