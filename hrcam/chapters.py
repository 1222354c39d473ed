"""Chapters that need data outside the wheel: checked before a book run, or skipped by name.

The real cut-out chapter reads Debian packages (``make book`` installs them as root). Without
them, :func:`check_chapter_sources` stops ``hrcam book`` before any notebook runs, naming the
packages and the one parameter that skips the chapter; a chapter skipped that way gets the page
:func:`skipped_chapter` writes instead of an executed notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hrcam import profiles
from hrcam.atomic import atomic_write_text
from hrcam.errors import HrcamError

__all__ = ["check_chapter_sources", "skipped_chapter"]


def check_chapter_sources(
    profile: str, overrides: Mapping[str, Any], only: Sequence[str] | None
) -> None:
    """Refuse, before any notebook runs, a chapter whose Debian packages are missing.

    The real cut-out chapter reads Debian packages (``make book`` installs them as root);
    without them the run would fail an hour in. The message names what to install and the one
    parameter that skips the chapter.
    """
    from hrcam.data.cutouts import BACKGROUND_PACKAGES, STAMPS_PACKAGE, missing_cutout_packages

    stem = "10_real_cutouts"
    if stem not in profiles.NOTEBOOK_PARAMETERS or (only is not None and stem not in only):
        return
    names = profiles.NOTEBOOK_PARAMETERS[stem]
    cfg = profiles.resolve(profile, stem, **{k: v for k, v in overrides.items() if k in names})
    if not cfg["real_cutouts"]:
        return
    needed = set()
    if cfg["cutout_stamps"] is None:
        needed.add(STAMPS_PACKAGE)
    if cfg["cutout_backgrounds"] is None:
        needed |= set(BACKGROUND_PACKAGES)
    missing = [p for p in missing_cutout_packages() if p in needed]
    if missing:
        raise HrcamError(
            f"the chapter 'Real animals, measured' ({stem}) needs the Debian package(s) "
            f"{' '.join(missing)}: sudo apt-get install {' '.join(missing)} (`make book` "
            "installs them when run as root), or skip the chapter with -p real_cutouts false"
        )


def skipped_chapter(path: Path, stem: str, flag: str) -> Path:
    """Write the page of a chapter that was skipped with ``-p FLAG false`` (no code runs)."""
    import nbformat

    title = stem.split("_", 1)[1].replace("_", " ").capitalize()
    text = (
        f"# {title}\n\nThis chapter was skipped in this run (`-p {flag} false`), so it shows "
        "nothing, and the claims page answers only from the chapters that ran. Install what "
        "it needs (see the README) and rerun `hrcam book` to add it."
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    atomic_write_text(path, nbformat.writes(nb))
    return path
