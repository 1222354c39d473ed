"""The main job: execute every notebook with papermill, then build the Jupyter Book.

``run_book`` reads each Jupytext source ``notebooks/NN_name.py``, executes it with papermill
into ``book/notebooks/NN_name.ipynb`` with the chosen profile and run folder, and finally runs
``jupyter-book build book/ -W``. A notebook is skipped when its source, its parameters, the
outputs of the notebooks before it (their folders in the run folder) and the ``hrcam`` version
are unchanged since its last successful run, as recorded in a small JSON manifest next to the
executed notebooks. Edits to the ``hrcam`` code itself are not tracked: use ``force=True``
(``hrcam book --force``) after changing it. A notebook that declares a ``resume`` parameter
(the two training notebooks) is told to resume its checkpoints when its previous attempt with
the same inputs did not finish, so an interrupted main job loses little work.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrcam.atomic import atomic_write_text
from hrcam.book import profiles
from hrcam.book.chapters import OPTIONAL_CHAPTERS, STAGE_DIRS
from hrcam.book.pages import (
    RunFacts,
    hide_injected_parameters,
    read_only_message,
    write_intro_parts,
    write_timings,
)
from hrcam.book.sources import check_chapter_sources, optional_configs, skipped_chapter
from hrcam.errors import HrcamError
from hrcam.locking import folder_lock

__all__ = [
    "BookError",
    "BookResult",
    "NotebookRun",
    "build_book",
    "declared_parameters",
    "find_notebooks",
    "run_book",
    "run_notebook",
]

MANIFEST_NAME = ".hrcam-manifest.json"
# Files above this size are fingerprinted by size and mtime rather than read in full.
_HASH_FULL_LIMIT = 64 * 2**20


class BookError(HrcamError):
    """A notebook or the book build failed; the message says where and why."""


@dataclass
class NotebookRun:
    """What happened to one notebook: ``status`` is ``"ran"`` or ``"skipped"``."""

    name: str
    status: str
    seconds: float
    output: Path


@dataclass
class BookResult:
    """Outcome of :func:`run_book`."""

    notebooks: list[NotebookRun] = field(default_factory=list)
    html_index: Path | None = None
    build_seconds: float = 0.0


# --------------------------------------------------------------------------- discovery


def find_notebooks(notebooks_dir: str | Path) -> list[Path]:
    """Return the Jupytext sources ``NN_*.py`` of ``notebooks_dir``, in order.

    Raises
    ------
    FileNotFoundError
        If the folder holds no notebook sources.
    """
    paths = sorted(Path(notebooks_dir).glob("[0-9][0-9]_*.py"))
    if not paths:
        raise FileNotFoundError(f"no notebook sources NN_*.py in {notebooks_dir}")
    return paths


def _parameters_cell(nb: Any) -> Any:
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return cell
    return None


def declared_parameters(nb: Any) -> tuple[str, ...]:
    """Names assigned in the notebook's ``parameters`` cell, in order.

    Parameters
    ----------
    nb
        An ``nbformat`` notebook (e.g. from ``jupytext.read``).

    Raises
    ------
    ValueError
        If there is no cell tagged ``parameters`` or it is not plain assignments.
    """
    cell = _parameters_cell(nb)
    if cell is None:
        raise ValueError("the notebook has no code cell tagged 'parameters'")
    names: list[str] = []
    for node in ast.parse(cell.source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            raise ValueError(f"the parameters cell may only assign names, not {ast.unparse(node)}")
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return tuple(names)


# --------------------------------------------------------------------------- fingerprints


def _hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_tree(path: Path) -> str:
    """Fingerprint a file or folder: names and contents (size+mtime for huge files)."""
    h = hashlib.sha256()
    if not path.exists():
        return "missing"
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path.parent)).encode())
        st = f.stat()
        if st.st_size > _HASH_FULL_LIMIT:
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        else:
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _load_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


# --------------------------------------------------------------------------- execution


def _format_failure(name: str, exc: Exception, kept: Path) -> str:
    """Describe a failed notebook readably: the cell, the error, where the notebook is."""
    lines = [f"notebook {name} failed"]
    source = getattr(exc, "source", None)
    if source is not None:
        lines[0] += f" in cell {getattr(exc, 'exec_count', '?')}"
        lines += ["---- failing cell ----", source.rstrip(), "---- error ----"]
        lines.append(f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', exc)}")
    else:
        lines.append(f"{type(exc).__name__}: {exc}")
    lines.append(f"the partially executed notebook is kept at {kept}")
    return "\n".join(lines)


def run_notebook(
    source: str | Path,
    output: str | Path,
    parameters: Mapping[str, Any],
    *,
    cwd: str | Path | None = None,
    progress: bool = True,
    kernel_name: str = "python3",
) -> None:
    """Execute one Jupytext notebook with papermill.

    Parameters
    ----------
    source
        A Jupytext ``.py`` (percent format) notebook.
    output
        Where to write the executed ``.ipynb``.
    parameters
        Values injected after the ``parameters`` cell; every name must be declared there.
    cwd
        Working directory of the kernel.
    progress
        Show papermill's per-cell progress bar.
    kernel_name
        Jupyter kernel to run (``python3`` is the interpreter running this code).

    Raises
    ------
    ValueError
        If a parameter is not declared in the notebook's parameters cell.
    BookError
        If a cell raises; the message shows the failing cell and the error.
    """
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source, output = Path(source), Path(output)
    nb = jupytext.read(source)
    declared = declared_parameters(nb)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(
            f"{source.name} does not declare parameter(s) {', '.join(unknown)}; "
            f"its parameters are: {', '.join(declared)}"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            nb,
            str(output),
            parameters=dict(parameters),
            kernel_name=kernel_name,
            language="python",
            progress_bar=progress,
            cwd=str(cwd) if cwd is not None else None,
        )
    except PapermillExecutionError as exc:
        raise BookError(_format_failure(source.stem, exc, output)) from None
    hide_injected_parameters(output)  # it holds the builder's absolute run folder


def build_book(book_dir: str | Path, *, quiet: bool = True, facts: RunFacts | None = None) -> Path:
    """Run ``jupyter-book build BOOK_DIR -W --keep-going``; warnings are errors.

    First writes the intro's generated parts (:func:`hrcam.book.pages.write_intro_parts`):
    the notebook and profile tables, and ``facts``, what the run that executed the notebooks
    measured (``None``: the page says no times were recorded).

    Returns
    -------
    Path
        ``BOOK_DIR/_build/html/index.html``.

    Raises
    ------
    BookError
        If the book folder is read-only (one line saying so), the build fails or emits a
        warning (the message holds the build log's tail), or
        a page would load a script, style sheet or font from the network (the book must read
        the same offline; see :func:`hrcam.offline.remote_resources`).
    """
    from hrcam.offline import remote_resources

    book_dir = Path(book_dir)
    # A read-only folder, said in one line before jupyter-book fails deep inside.
    existing = next((p for p in (book_dir / "_build", book_dir) if p.is_dir()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise BookError(read_only_message(book_dir))
    write_intro_parts(book_dir, facts)
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "jupyter_book.cli.main"]
    cmd += ["build", str(book_dir), "-W", "--keep-going"]
    if quiet:
        cmd.append("-q")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr).strip().splitlines()
        if any("Read-only file system" in line for line in log):  # EROFS while it ran
            raise BookError(read_only_message(book_dir))
        raise BookError(
            "jupyter-book build failed (warnings count as errors):\n" + "\n".join(log[-40:])
        )
    remote = remote_resources(book_dir / "_build" / "html")
    if remote:
        listed = "\n".join(f"  {page}: {', '.join(urls)}" for page, urls in remote.items())
        raise BookError(
            "the built book loads resources from the network, so it would not render offline; "
            "serve them from _static/ instead (e.g. a Sphinx extension that bundles them):\n"
            + listed
        )
    return book_dir / "_build" / "html" / "index.html"


def _parse_value(value: Any) -> Any:
    """Turn a command-line string into a Python value the way YAML would (3, 0.5, true, null)."""
    if not isinstance(value, str):
        return value
    import yaml

    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def find_root(start: str | Path | None = None) -> Path:
    """Find the hrcam checkout that holds ``start`` (default: the current folder).

    A checkout is a folder with ``notebooks/`` and ``book/``; ``start`` or the nearest folder
    above it that has both. ``hrcam book`` builds the book of that checkout, never the one the
    ``hrcam`` package happens to be installed from.

    Raises
    ------
    BookError
        No such folder at or above ``start``.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "book").is_dir():
            return folder
    raise BookError(
        f"{here} is not inside an hrcam checkout (a folder with notebooks/ and book/); run "
        "`hrcam book` there, or pass --root"
    )


def run_book(
    profile: str = profiles.DEFAULT_PROFILE,
    run_dir: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    root: str | Path | None = None,
    force: bool = False,
    notebooks_dir: str | Path | None = None,
    book_dir: str | Path | None = None,
    only: Sequence[str] | None = None,
    build: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> BookResult:
    """Execute the notebooks with papermill and build the book.

    Parameters
    ----------
    profile
        A name from :data:`hrcam.book.profiles.PROFILES`.
    run_dir
        The run folder that the notebooks share (default ``ROOT/runs/<profile>``).
    overrides
        Parameter values replacing the profile's (strings are parsed as YAML scalars). Each is
        passed to every notebook that declares it; a name no notebook declares is an error.
    root
        The checkout whose notebooks and book are used (default: :func:`find_root` of the
        current folder).
    force
        Rerun every notebook even when unchanged.
    notebooks_dir, book_dir
        Sources and book folder (default: ``ROOT/notebooks`` and ``ROOT/book``).
    only
        Run only these notebook stems (e.g. ``["04_postprocess"]``); the rest are untouched.
    build
        Run ``jupyter-book build`` after the notebooks.
    progress
        Show per-cell progress bars.
    log
        Receives one line per notebook.

    Returns
    -------
    BookResult
        What ran, what was skipped, and the HTML entry page.

    Raises
    ------
    ValueError
        Unknown profile, parameter name or a parameter of the wrong type (checked before
        anything runs).
    BookError
        A notebook or the build failed.
    """
    jupytext = _book_stack()
    profiles.resolve(profile)  # unknown profile -> ValueError before anything runs
    notebooks_dir, book_dir, run_dir = _folders(profile, root, notebooks_dir, book_dir, run_dir)
    overrides = {k: _parse_value(v) for k, v in (overrides or {}).items()}

    sources = find_notebooks(notebooks_dir)
    declared = {p.stem: declared_parameters(jupytext.read(p)) for p in sources}
    _check_parameters(declared, overrides, only)

    # The optional chapters' parameters, resolved once: for the check of their Debian
    # packages here, and for the runner, which skips a chapter whose flag is off.
    configs = optional_configs(profile, overrides, declared)
    check_chapter_sources(configs, only)

    out_dir = book_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    # Held while the notebooks run: a second book on this run folder stops at once instead of
    # taking a live training folder for an interrupted attempt and training into it too.
    with folder_lock(run_dir, "run folder"):
        runner = _Runner(profile=profile, run_dir=run_dir, overrides=overrides, sources=sources,
                         declared=declared, optional=configs, out_dir=out_dir, force=force,
                         progress=progress, log=log)  # fmt: skip
        result = BookResult()
        # Environment inherited by the kernels.
        os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")

        for i, src in enumerate(sources):
            if only is None or src.stem in only:
                result.notebooks.append(runner.run(i, src))

        if build:
            log(f"building the book in {book_dir} (jupyter-book build -W)")
            start = time.perf_counter()
            facts = RunFacts.from_manifest(profile, runner.manifest)
            result.html_index = build_book(book_dir, facts=facts)
            result.build_seconds = time.perf_counter() - start
            log(f"book built in {result.build_seconds:.1f} s: {result.html_index}")
        return result


def _book_stack() -> Any:
    """Return the ``jupytext`` module, after checking that the ``book`` extra is installed."""
    try:
        import jupytext
        import papermill  # noqa: F401  (checked here, used by run_notebook)
    except ModuleNotFoundError as exc:
        raise BookError(
            f"the book needs the 'book' extra ({exc.name} is not installed): "
            "pip install 'hrcam[book]'"
        ) from None
    return jupytext


def _folders(
    profile: str,
    root: str | Path | None,
    notebooks_dir: str | Path | None,
    book_dir: str | Path | None,
    run_dir: str | Path | None,
) -> tuple[Path, Path, Path]:
    """Return the notebooks, book and run folders of :func:`run_book` (see its parameters)."""
    if notebooks_dir is None or book_dir is None:
        if root is not None:
            root = Path(root).resolve()
            if not ((root / "notebooks").is_dir() and (root / "book").is_dir()):
                raise BookError(
                    f"--root {str(root)!r} is not an hrcam checkout (it needs notebooks/ and "
                    "book/ folders)"
                )
        else:
            root = find_root()
    notebooks = Path(notebooks_dir or root / "notebooks")
    book = Path(book_dir or root / "book")
    run = Path(run_dir or (root or Path.cwd()) / "runs" / profile).resolve()
    if run.exists() and not run.is_dir():
        raise BookError(f"--run-dir {str(run)!r} is a file, not a folder; choose a folder")
    return notebooks, book, run


def _check_parameters(
    declared: Mapping[str, Sequence[str]],
    overrides: Mapping[str, Any],
    only: Sequence[str] | None,
) -> None:
    """Reject, before anything runs, parameters and notebook names that nothing declares."""
    for stem, names in declared.items():
        missing = [n for n in ("profile", "run_dir") if n not in names]
        if missing:
            raise ValueError(f"{stem}: the parameters cell must assign {', '.join(missing)}")
    bad = sorted(set(overrides) & {"profile", "run_dir"})
    if bad:
        raise ValueError(f"set {', '.join(bad)} with --profile/--run-dir, not as a parameter")
    everywhere = {n for names in declared.values() for n in names} - {"profile", "run_dir"}
    unknown = sorted(set(overrides) - everywhere)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)}: no notebook declares them; "
            f"known parameters: {', '.join(sorted(everywhere))}"
        )
    profiles.check_types(overrides)
    if only is not None:
        missing = sorted(set(only) - set(declared))
        if missing:
            raise ValueError(
                f"unknown notebook(s) {', '.join(missing)}; have {', '.join(declared)}"
            )


@dataclass
class _Runner:
    """Runs the notebooks of one :func:`run_book` call, one at a time, keeping the manifest."""

    profile: str
    run_dir: Path
    overrides: Mapping[str, Any]
    sources: list[Path]
    declared: Mapping[str, Sequence[str]]
    optional: Mapping[str, Mapping[str, Any]]
    out_dir: Path
    force: bool
    progress: bool
    log: Callable[[str], None]
    manifest: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.manifest = _load_manifest(self.manifest_path)

    @property
    def manifest_path(self) -> Path:
        """The manifest of executed notebooks, beside them in the book folder."""
        return self.out_dir / MANIFEST_NAME

    def key(self, i: int, src: Path, params: Mapping[str, Any]) -> str:
        """Hash what a notebook's run depends on: its source, parameters, inputs, hrcam version."""
        from hrcam._version import __version__

        upstream = [
            _hash_tree(profiles.stage_dir(self.run_dir, p.stem))
            for p in self.sources[:i]
            if p.stem in STAGE_DIRS
        ]
        return _hash_bytes(
            json.dumps(
                {
                    "source": _hash_bytes(src.read_bytes()),
                    "parameters": params,
                    "inputs": upstream,
                    "hrcam": __version__,
                },
                sort_keys=True,
                default=str,
            ).encode()
        )

    def run(self, i: int, src: Path) -> NotebookRun:
        """Execute notebook ``i`` unless its key and outputs are unchanged (or ``force``)."""
        stem = src.stem
        output = self.out_dir / f"{stem}.ipynb"
        params: dict[str, Any] = {"profile": self.profile, "run_dir": str(self.run_dir)}
        params.update({k: v for k, v in self.overrides.items() if k in self.declared[stem]})
        key = self.key(i, src, params)
        own = profiles.stage_dir(self.run_dir, stem) if stem in STAGE_DIRS else None
        entry = self.manifest.get(stem, {})
        unchanged = (
            entry.get("key") == key
            and output.exists()
            and (own is None or entry.get("outputs") == _hash_tree(own))
        )
        label = f"[{i + 1}/{len(self.sources)}] {stem}"
        if unchanged and not self.force:
            self.log(f"{label}: unchanged, skipped")
            return NotebookRun(stem, "skipped", 0.0, output)
        # An earlier attempt with exactly these inputs was interrupted or failed: a notebook
        # that declares ``resume`` continues its training checkpoints instead of starting
        # over (hours at paper scale). Any change of inputs starts afresh.
        resuming = entry.get("started") == key
        if "resume" in self.declared[stem] and "resume" not in self.overrides:
            params["resume"] = resuming
        how = "resuming an interrupted attempt" if params.get("resume") else "running"
        self.log(f"{label}: {how} ({self.profile}, {self.run_dir})")
        self._save({stem: {"started": key}})
        # Execute into the run folder first: a failing notebook must never become a page.
        scratch = self.run_dir / "_notebooks" / f"{stem}.ipynb"
        write_timings(self.run_dir, self.manifest)
        start = time.perf_counter()
        flag = OPTIONAL_CHAPTERS.get(stem)
        cfg = self.optional.get(stem, {})
        if flag and not cfg[flag]:
            scratch.parent.mkdir(parents=True, exist_ok=True)
            skipped_chapter(scratch, stem, flag, cfg)
        else:
            run_notebook(src, scratch, params, cwd=self.run_dir, progress=self.progress)
        seconds = time.perf_counter() - start
        shutil.move(scratch, output)
        entry = {
            "key": key,
            "outputs": _hash_tree(own) if own is not None else None,
            "seconds": round(seconds, 1),
            "parameters": params,
        }
        self._save({stem: entry})
        self.log(f"{label}: done in {seconds:.1f} s")
        return NotebookRun(stem, "ran", seconds, output)

    def _save(self, update: Mapping[str, Any]) -> None:
        self.manifest.update(update)
        atomic_write_text(self.manifest_path, json.dumps(self.manifest, indent=2, default=str))
