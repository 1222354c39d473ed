"""The parts of the book that the runner writes: the intro's tables and this run's timings.

The intro page (``book/intro.md``) states facts that change with the code: how many notebooks
the book has, what each profile trains, how long this build took. Typed into the prose they
drift (the page once said "six notebooks" when there were thirteen). So :func:`build_book
<hrcam.book.build_book>` writes them, from :mod:`hrcam.book.chapters`,
:mod:`hrcam.book.profiles` and the run's manifest, into ``book/_generated/`` (git-ignored) just
before ``jupyter-book build``, and the intro includes those files. Each part is a small pure
function of its inputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrcam.atomic import atomic_write_text

__all__ = [
    "GENERATED_DIR",
    "PROFILE_PURPOSES",
    "RunFacts",
    "format_seconds",
    "hide_injected_parameters",
    "notebook_table",
    "profile_table",
    "read_only_message",
    "run_summary",
    "write_intro_parts",
    "write_timings",
]

# Folder of the book (next to intro.md) that holds the generated parts; git-ignored.
GENERATED_DIR = "_generated"

# What each profile is for, in words (its sizes come from the profile itself).
PROFILE_PURPOSES: dict[str, str] = {
    "smoke": "the tests: seconds per notebook",
    "demo": "a CPU: the whole book in minutes",
    "study": "a longer CPU run: more images, longer training",
    "paper": "a GPU; the paper's settings",
}

_ARCH_NAMES = {
    "densenet_compact": "compact DenseNet",
    "densenet121": "DenseNet-121",
    "resnet50": "ResNet-50",
}


@dataclass(frozen=True)
class RunFacts:
    """What one ``hrcam book`` run measured: its profile and each notebook's seconds.

    ``seconds`` holds the wall time of each notebook's last execution (a notebook skipped as
    unchanged keeps the time of the run that executed it).
    """

    profile: str
    seconds: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, profile: str, manifest: Mapping[str, Any]) -> RunFacts:
        """Read the seconds that the runner's manifest recorded for each notebook."""
        seconds = {
            stem: float(entry["seconds"])
            for stem, entry in manifest.items()
            if isinstance(entry, dict) and "seconds" in entry
        }
        return cls(profile=profile, seconds=seconds)


def format_seconds(seconds: float) -> str:
    """``75.2 -> "1 min 15 s"``, ``8.4 -> "8 s"``: a duration as a reader says it."""
    total = round(float(seconds))
    minutes, rest = divmod(total, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def notebook_table(
    notebooks: Sequence[str], stage_dirs: Mapping[str, str], roles: Mapping[str, str]
) -> str:
    """Return the intro's table of notebooks: page, what of the paper it covers, its folder.

    Parameters
    ----------
    notebooks
        Notebook stems in book order (:data:`hrcam.book.chapters.NOTEBOOKS`).
    stage_dirs
        The run-folder folder each writes (:data:`hrcam.book.chapters.STAGE_DIRS`).
    roles
        What each answers (:data:`hrcam.book.chapters.NOTEBOOK_ROLES`).

    Raises
    ------
    KeyError
        A notebook without a role or a folder (the table must list every chapter).
    """
    lines = [_row(["Notebook", "Paper", "Writes to `run_dir/`"]), "|---|---|---|"]
    for stem in notebooks:
        page = f"{{doc}}`notebooks/{stem}`"
        lines.append(_row([page, roles[stem], f"`{stage_dirs[stem]}/`"]))
    return "\n".join(lines)


def _data(values: Mapping[str, Any]) -> str:
    if values["dataset"] == "synthetic":
        return (
            f"{values['num_train']} + {values['num_val']} synthetic images, "
            f"{values['image_size']} px"
        )
    count = "every image" if values["num_train"] is None else f"{values['num_train']} images"
    return f"ImageNet animals ({values['num_classes']} classes, {count}), {values['image_size']} px"


def _cutouts(values: Mapping[str, Any]) -> str:
    if not values.get("real_cutouts", False):
        return "skipped"
    return (
        f"{values['cutout_num_train']} + {values['cutout_num_val']} images, "
        f"{values['cutout_image_size']} px, {values['cutout_epochs']} epoch(s)"
    )


def profile_table(
    profiles: Mapping[str, Mapping[str, Any]],
    default: str,
    purposes: Mapping[str, str] = PROFILE_PURPOSES,
) -> str:
    """Return the intro's table of profiles, every size read from the profiles themselves.

    Parameters
    ----------
    profiles
        :data:`hrcam.book.profiles.PROFILES`: name to parameter values.
    default
        The profile ``hrcam book`` uses without ``--profile``.
    purposes
        What each profile is meant for, in words (empty when missing).
    """
    lines = [
        _row(["Profile", "Data", "Model", "Epochs", "Real cut-outs (ch. 10)", "Meant for"]),
        "|---|---|---|---|---|---|",
    ]
    for name, values in profiles.items():
        label = f"`{name}` (default)" if name == default else f"`{name}`"
        arch = _ARCH_NAMES.get(values["arch"], f"`{values['arch']}`")
        epochs = f"{values['classifier_epochs']} + {values['expansion_epochs']}"
        row = [label, _data(values), arch, epochs, _cutouts(values), purposes.get(name, "")]
        lines.append(_row(row))
    return "\n".join(lines)


def run_summary(facts: RunFacts | None, notebooks: Sequence[str]) -> str:
    """Return what this build measured: its profile and each notebook's execution time.

    Parameters
    ----------
    facts
        The run's profile and seconds; ``None`` when the book was built without running the
        notebooks through ``hrcam book`` (then the page says so, and shows no time).
    notebooks
        Notebook stems in book order.
    """
    if facts is None or not facts.seconds:
        return (
            "This build recorded no notebook times: its notebooks were not executed by "
            "`hrcam book`."
        )
    timed = [(stem, facts.seconds[stem]) for stem in notebooks if stem in facts.seconds]
    total = sum(seconds for _, seconds in timed)
    lines = [
        f"This book was built with the `{facts.profile}` profile. Executing its "
        f"{len(timed)} notebooks took {format_seconds(total)} on the machine that built it "
        "(the last execution of each; the `jupyter-book build` that follows, and setting up "
        "the environment, are not included):",
        "",
        _row(["Notebook", "Seconds"]),
        "|---|---:|",
    ]
    lines += [_row([f"{{doc}}`notebooks/{stem}`", f"{s:.0f}"]) for stem, s in timed]
    return "\n".join(lines)


def write_intro_parts(book_dir: str | Path, facts: RunFacts | None = None) -> list[Path]:
    """Write the intro's generated parts into ``book_dir/_generated/``.

    ``notebooks.md`` (:func:`notebook_table`), ``profiles.md`` (:func:`profile_table`) and
    ``run.md`` (:func:`run_summary`); ``book/intro.md`` includes them.

    Parameters
    ----------
    book_dir
        The Jupyter Book folder.
    facts
        What the run measured, or ``None`` for a book built from stored notebooks.

    Returns
    -------
    list of Path
        The files written.
    """
    from hrcam.book import chapters, profiles

    out = Path(book_dir) / GENERATED_DIR
    out.mkdir(parents=True, exist_ok=True)
    parts = {
        "notebooks.md": notebook_table(
            chapters.NOTEBOOKS, chapters.STAGE_DIRS, chapters.NOTEBOOK_ROLES
        ),
        "profiles.md": profile_table(profiles.PROFILES, profiles.DEFAULT_PROFILE),
        "run.md": run_summary(facts, chapters.NOTEBOOKS),
    }
    written = []
    for name, text in parts.items():
        atomic_write_text(out / name, text + "\n")
        written.append(out / name)
    return written


def hide_injected_parameters(path: str | Path) -> bool:
    """Tag papermill's injected-parameters cell of an executed notebook ``remove-cell``.

    papermill inserts a cell assigning the ``-p`` values, the absolute run folder among them;
    rendered, it would show the file system of the machine that built the book. The page shows
    the resolved parameters in the notebook's own configuration cell instead
    (:class:`hrcam.book.config_view.NotebookConfig`), and the notebook file keeps the cell.

    Parameters
    ----------
    path
        An executed ``.ipynb``; rewritten in place when it holds such a cell.

    Returns
    -------
    bool
        Whether a cell was tagged.
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
            changed = True
    if changed:
        atomic_write_text(path, nbformat.writes(nb))
    return changed


def read_only_message(book_dir: Path) -> str:
    """Return the one-line message for a book folder that jupyter-book cannot write into."""
    return (
        f"the book folder {str(book_dir)!r} is read-only: jupyter-book writes the site into "
        f"{str(book_dir / '_build')!r}; make it writable, or build a copy of the book elsewhere"
    )


def write_timings(run_dir: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``run_dir/timings.json``: the seconds of each notebook's last run.

    So that a notebook (the claims page) can say what each one costs.
    """
    timings = {
        k: v["seconds"] for k, v in manifest.items() if isinstance(v, dict) and "seconds" in v
    }
    atomic_write_text(run_dir / "timings.json", json.dumps(timings, indent=2))
