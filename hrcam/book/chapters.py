"""The book's chapters, one record each: notebook, run-folder stage, role, what it needs.

Every per-chapter table of the book is derived from :data:`CHAPTERS` (the order is the
execution order): :data:`NOTEBOOKS`, :data:`STAGE_DIRS`, :data:`OPTIONAL_CHAPTERS`, the roles in
the intro's table and the checks of an optional chapter's Debian packages. ``_toc.yml`` lists the
same notebooks in the same order (a test checks it). The parameters a notebook reads are not
listed here: its own ``parameters`` cell declares them
(:func:`hrcam.book.runner.declared_parameters` reads it), and :mod:`hrcam.book.profiles` holds
their values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHAPTERS",
    "CHAPTER_NEEDS",
    "NOTEBOOKS",
    "NOTEBOOK_ROLES",
    "OPTIONAL_CHAPTERS",
    "STAGE_DIRS",
    "Chapter",
    "chapter",
]


def _cutout_packages(cfg: Mapping[str, Any]) -> list[str]:
    """Missing Debian packages of the real cut-out chapter (none for folders given by hand)."""
    from hrcam.data.cutouts import BACKGROUND_PACKAGES, STAMPS_PACKAGE, missing_cutout_packages

    needed = set()
    if cfg["cutout_stamps"] is None:
        needed.add(STAMPS_PACKAGE)
    if cfg["cutout_backgrounds"] is None:
        needed |= set(BACKGROUND_PACKAGES)
    return [p for p in missing_cutout_packages() if p in needed]


def _photo_packages(cfg: Mapping[str, Any]) -> list[str]:
    """Missing Debian packages of the reviewed animal photos (hrcam.data.animal_photos)."""
    from hrcam.data.animal_photos import missing_photo_packages

    if cfg["photo_installed_only"]:  # measures the installed photos only (the tests' setting)
        return []
    return missing_photo_packages()


@dataclass(frozen=True)
class Chapter:
    """One chapter of the book: its notebook and everything the runner and the intro need.

    Attributes
    ----------
    notebook
        The stem of ``notebooks/NN_name.py`` (and of its page).
    stage
        Its folder of the run folder (``run_dir/<stage>``): the notebook writes only there;
        the runner hashes these folders to decide what needs to rerun.
    role
        What it answers, in the paper's terms (the intro's table of notebooks).
    optional
        For a chapter that needs data outside the wheel: the parameter that skips it (its
        page then says so, and the claims page answers from the chapters that ran).
    title
        The title the messages about its missing data name (an optional chapter's).
    needs
        A function of the chapter's resolved parameters returning the Debian packages it
        lacks (an optional chapter's; checked before any notebook runs).
    """

    notebook: str
    stage: str
    role: str
    optional: str | None = None
    title: str = ""
    needs: Callable[[Mapping[str, Any]], list[str]] | None = None


# The chapters in execution order. ``profile`` and ``run_dir`` are parameters of every notebook.
CHAPTERS: tuple[Chapter, ...] = (
    Chapter("01_dataset", "data", "Sec. 4.1"),
    Chapter("02_classifier", "classifier", "Sec. 3.1, 4.2"),
    Chapter("03_expansion", "expansion", "Sec. 3.2, 4.3"),
    Chapter("04_postprocess", "postprocess", "Sec. 3.3, 4.4, Figs. 2–4"),
    Chapter("05_evaluation", "evaluation", "not in the paper: localization measured against masks"),
    Chapter("06_paper_vs_reference", "presets", "Sec. 3.3 against the reference code"),
    Chapter("07_evidence", "evidence", "does the refined CAM beat the low-res CAM? (Sec. 3.3, 5)"),
    Chapter("08_real_photos", "photos", "Sec. 3.2: another CNN, pretrained, on real photos"),
    Chapter(
        "09_beyond_the_paper",
        "beyond",
        "not in the paper: high-res peers, a consistency-trained expansion network",
    ),
    Chapter(
        "10_real_cutouts",
        "cutouts",
        "Sec. 4 on natural images: real animal cut-outs with exact masks, a real ImageNet "
        "classifier, every method",
        optional="real_cutouts",
        title="Real animals, measured",
        needs=_cutout_packages,
    ),
    Chapter(
        "11_upsamplers",
        "upsamplers",
        "not in the paper: the expansion network against a learned JBU, image-guided filters "
        "and SESS on the same classifier",
    ),
    Chapter(
        "12_photo_faithfulness",
        "photo_faithfulness",
        "not in the paper: faithfulness and sanity checks on untouched animal photos",
        optional="photo_faithfulness",
        title="Real photos: faithfulness and sanity checks",
        needs=_photo_packages,
    ),
    Chapter("13_claims", "claims", "each claim of the paper, measured"),
)

# The tables the runner, the profiles and the intro read, derived from the records.
NOTEBOOKS: tuple[str, ...] = tuple(c.notebook for c in CHAPTERS)
STAGE_DIRS: dict[str, str] = {c.notebook: c.stage for c in CHAPTERS}
NOTEBOOK_ROLES: dict[str, str] = {c.notebook: c.role for c in CHAPTERS}
OPTIONAL_CHAPTERS: dict[str, str] = {c.notebook: c.optional for c in CHAPTERS if c.optional}
CHAPTER_NEEDS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    c.notebook: c.needs for c in CHAPTERS if c.needs is not None
}


def chapter(notebook: str) -> Chapter:
    """Return the record of ``notebook`` (a stem such as ``"02_classifier"``).

    Raises
    ------
    ValueError
        For a notebook that is not a chapter of the book.
    """
    for c in CHAPTERS:
        if c.notebook == notebook:
            return c
    raise ValueError(f"unknown notebook {notebook!r}; choose one of {', '.join(NOTEBOOKS)}")
