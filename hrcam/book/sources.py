"""Chapters that need data outside the wheel: checked before a book run, or skipped by name.

The real cut-out chapter and the photo-faithfulness chapter read Debian packages (``make
book`` installs them as root). Without them, :func:`check_chapter_sources` stops ``hrcam
book`` before any notebook runs, naming the packages and the one parameter that skips each
chapter; a chapter skipped that way gets the page :func:`skipped_chapter` writes instead of
an executed notebook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hrcam import profiles
from hrcam.atomic import atomic_write_text
from hrcam.errors import HrcamError

__all__ = ["check_chapter_sources", "skipped_chapter"]


def _cutout_packages(cfg: Mapping[str, Any]) -> tuple[list[str], str]:
    """Missing Debian packages of the real cut-out chapter (none for folders given by hand)."""
    from hrcam.data.cutouts import BACKGROUND_PACKAGES, STAMPS_PACKAGE, missing_cutout_packages

    needed = set()
    if cfg["cutout_stamps"] is None:
        needed.add(STAMPS_PACKAGE)
    if cfg["cutout_backgrounds"] is None:
        needed |= set(BACKGROUND_PACKAGES)
    return [p for p in missing_cutout_packages() if p in needed], "Real animals, measured"


def _photo_packages(cfg: Mapping[str, Any]) -> tuple[list[str], str]:
    """Missing Debian packages of the reviewed animal photos (hrcam.data.animal_photos)."""
    from hrcam.data.animal_photos import missing_photo_packages

    title = "Real photos: faithfulness and sanity checks"
    if cfg["photo_installed_only"]:  # measures the installed photos only (the tests' setting)
        return [], title
    return missing_photo_packages(), title


# What each optional chapter (profiles.OPTIONAL_CHAPTERS) needs outside the wheel: a function
# of the chapter's resolved parameters -> (missing Debian packages, the chapter's title).
_CHAPTER_NEEDS: dict[str, Callable[[Mapping[str, Any]], tuple[list[str], str]]] = {
    "10_real_cutouts": _cutout_packages,
    "12_photo_faithfulness": _photo_packages,
}


def check_chapter_sources(
    profile: str, overrides: Mapping[str, Any], only: Sequence[str] | None
) -> None:
    """Refuse, before any notebook runs, a chapter whose Debian packages are missing.

    Each chapter of :data:`hrcam.profiles.OPTIONAL_CHAPTERS` that this run executes (and
    that is not skipped by its parameter) is checked; without its packages the run would
    fail an hour in. The message names, per chapter, what to install and the one parameter
    that skips it.
    """
    problems = []
    for stem, flag in profiles.OPTIONAL_CHAPTERS.items():
        if stem not in profiles.NOTEBOOK_PARAMETERS or stem not in _CHAPTER_NEEDS:
            continue
        if only is not None and stem not in only:
            continue
        names = profiles.NOTEBOOK_PARAMETERS[stem]
        cfg = profiles.resolve(profile, stem, **{k: v for k, v in overrides.items() if k in names})
        if not cfg[flag]:
            continue
        missing, title = _CHAPTER_NEEDS[stem](cfg)
        if missing:
            problems.append(
                f"the chapter '{title}' ({stem}) needs the Debian package(s) "
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
    missing = _CHAPTER_NEEDS[stem](cfg)[0] if cfg is not None and stem in _CHAPTER_NEEDS else []
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
