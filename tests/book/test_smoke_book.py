"""The whole book with the ``smoke`` profile: papermill, jupyter-book -W, HTML, screenshots.

One session-scoped fixture runs every notebook and the build once into a temporary folder;
the tests below inspect what it produced.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest

from hrcam.book import chapters, profiles, run_book

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.book, pytest.mark.slow]


def _cutout_overrides(sources):
    """The real cut-out chapter reads the conftest's fixture tree, not Debian's packages."""
    stamps, backgrounds = sources
    return {
        "cutout_stamps": str(stamps),
        "cutout_backgrounds": str(backgrounds),
        "photo_installed_only": True,  # scikit-image's cat where gcompris-qt-data is missing
    }


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory, shared_cutout_sources):
    root = tmp_path_factory.mktemp("smoke_book")
    book = root / "book"
    # Copy the pages (symlinks resolved) so that the repository's book/ is left alone.
    shutil.copytree(REPO / "book", book, ignore=shutil.ignore_patterns("_build", "notebooks"))
    lines: list[str] = []
    start = time.perf_counter()
    overrides = _cutout_overrides(shared_cutout_sources)
    result = run_book(
        "smoke", root / "run", overrides, book_dir=book, progress=False, log=lines.append
    )
    return SimpleNamespace(
        overrides=overrides,
        root=root,
        book=book,
        run=root / "run",
        result=result,
        html=book / "_build" / "html",
        seconds=time.perf_counter() - start,
        log=lines,
    )


def test_every_notebook_executes_with_smoke(smoke_book):
    runs = smoke_book.result.notebooks
    assert [r.name for r in runs] == list(chapters.NOTEBOOKS)
    assert {r.status for r in runs} == {"ran"}
    for r in runs:
        nb = nbformat.read(r.output, as_version=4)
        assert nb.metadata.papermill.parameters["profile"] == "smoke"
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], r.name
        # Every code cell ran (papermill stores an execution count for each).
        assert all(c.execution_count for c in nb.cells if c.cell_type == "code"), r.name
        # Each notebook wrote its own folder of the run folder.
        assert any(profiles.stage_dir(smoke_book.run, r.name).iterdir()), r.name


def test_rerun_with_nothing_changed_skips_every_notebook(smoke_book):
    result = run_book(
        "smoke",
        smoke_book.run,
        smoke_book.overrides,
        book_dir=smoke_book.book,
        build=False,
        progress=False,
        log=lambda line: None,
    )
    assert {r.status for r in result.notebooks} == {"skipped"}


def _images(page: Path) -> list[Path]:
    html = page.read_text()
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', html)
    # Figures produced by the notebooks land in _images/ (theme logos live in _static/).
    return [(page.parent / s).resolve() for s in srcs if "_images/" in s]


def test_book_has_every_page_and_nonempty_figures(smoke_book):
    html = smoke_book.html
    assert smoke_book.result.html_index == smoke_book.book / "_build" / "html" / "index.html"
    for page in ("intro", "method", "references"):
        assert (html / f"{page}.html").stat().st_size > 0
    for name in chapters.NOTEBOOKS:
        page = html / "notebooks" / f"{name}.html"
        assert page.exists(), f"no page for {name}"
        images = _images(page)
        assert images, f"{name} has no figure"
        for img in images:
            assert img.exists() and img.stat().st_size > 1000, img
        text = page.read_text()
        # Figures are numbered and captioned; no page shows an error or a stray warning.
        assert re.search(r'class="caption-number">Figure \d+', text), name
        assert "Traceback" not in text and "TqdmWarning" not in text, name
    post = (html / "notebooks" / "04_postprocess.html").read_text()
    for figure in (2, 3, 4):
        assert f"Reproduces the paper’s Fig. {figure}" in post or (
            f"Reproduces the paper's Fig. {figure}" in post
        )
    # The evaluation report's markdown tables render as HTML tables.
    assert "<table" in (html / "notebooks" / "05_evaluation.html").read_text()
    assert "Tagaris" in (html / "references.html").read_text()


def _screenshot(chromium, page: Path, out: Path) -> np.ndarray:
    from PIL import Image

    profile = out.parent / f"chromium-profile-{out.stem}"
    cmd = chromium(
        profile,
        "--virtual-time-budget=3000",
        f"--screenshot={out}",
        "--window-size=1280,900",
        page.as_uri(),
        kind="screenshot",
    )
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert out.exists() and out.stat().st_size > 0, f"chromium wrote no screenshot of {page}"
    return np.asarray(Image.open(out).convert("L"), dtype=np.float64)


@pytest.mark.parametrize("page", ["index.html", "notebooks/04_postprocess.html"])
def test_screenshot_is_not_blank(smoke_book, page, tmp_path, chromium):
    pixels = _screenshot(chromium, smoke_book.html / page, tmp_path / "shot.png")
    assert pixels.shape == (900, 1280)
    # A blank or single-colour page has (almost) no variance; a rendered page with text,
    # navigation and figures has plenty. Also require a real share of non-background pixels.
    assert pixels.std() > 10.0, f"{page} looks blank (std {pixels.std():.1f})"
    background = np.bincount(pixels.astype(np.uint8).ravel()).argmax()
    assert np.mean(np.abs(pixels - background) > 30) > 0.01, f"{page} is nearly empty"


def test_no_page_of_the_whole_book_loads_anything_from_the_network(smoke_book):
    from hrcam.offline import remote_resources

    assert remote_resources(smoke_book.html) == {}
    assert (smoke_book.html / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_real_photo_page_math_is_typeset_offline(smoke_book, dump_dom, assert_math_typeset):
    """The chapter's markdown cells hold inline math (``$F = P h$``), typeset with no network."""
    page = smoke_book.html / "notebooks" / "08_real_photos.html"
    assert_math_typeset(dump_dom(page), inline=3, display=0)


def _pages(html: Path) -> list[Path]:
    """Every page a reader can open: the prose pages and each chapter."""
    pages = [html / f"{name}.html" for name in ("intro", "method", "references")]
    return pages + [html / "notebooks" / f"{name}.html" for name in chapters.NOTEBOOKS]


def test_every_page_reads_right_in_chromium(smoke_book, dump_dom, page_text, page_defects):
    """Read as a reader does: no raw table, mangled option, repr, builder's path, 1-image CI.

    The smoke profile obeys the book's rules too: its values from one image (SESS, ROAD, the
    photos) are printed without an interval.
    """
    # The test's temporary folders, the home folder, the clone and its environment.
    machine = {smoke_book.root, smoke_book.root.parent.parent, Path.home(), REPO}
    machine.add(Path(sys.prefix))
    problems = {}
    for page in _pages(smoke_book.html):
        text = page_text(dump_dom(page), skip_class="cell_input")
        found = page_defects(text, sorted(str(p) for p in machine if str(p) != "/"))
        if found:
            problems[page.relative_to(smoke_book.html).as_posix()] = found
    assert not problems, "\n".join(
        f"{page}: {f}" for page, found in problems.items() for f in found
    )


def test_claims_headline_table_renders_as_a_table(smoke_book):
    from html.parser import HTMLParser

    class Headers(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables: list[list[str]] = []
            self._in_th = False

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            self._in_th = self._in_th or tag == "th"

        def handle_endtag(self, tag):
            self._in_th = self._in_th and tag != "th"

        def handle_data(self, data):
            if self._in_th and data.strip():
                self.tables[-1].append(data.strip())

    parser = Headers()
    parser.feed((smoke_book.html / "notebooks" / "13_claims.html").read_text())
    wanted = ("Claim (PxAP, 95% CI)", "Synthetic scenes", "Real animal cut-outs")
    # Each column header names its sample after the title, e.g. "(16 independent images)".
    found = [h[:3] for h in parser.tables if len(h) >= 3]
    assert any(all(c.startswith(w) for c, w in zip(h, wanted, strict=True)) for h in found), (
        parser.tables
    )


def test_intro_states_this_runs_notebooks_and_times(smoke_book):
    from hrcam.book.pages import format_seconds

    text = (smoke_book.html / "intro.html").read_text()
    seconds = {r.name: r.seconds for r in smoke_book.result.notebooks}
    assert re.search(r"built with the <code[^>]*><span[^>]*>smoke</span></code> profile", text)
    assert f"{len(chapters.NOTEBOOKS)} notebooks took" in text
    # The time the intro shows is what the runner measured (rounded as the page rounds it).
    shown = re.search(r"notebooks took ([^<]+?) on the machine", text).group(1)
    assert shown == format_seconds(sum(round(s, 1) for s in seconds.values()))
    for name in chapters.NOTEBOOKS:
        assert f"notebooks/{name}.html" in text
    # The papermill cell with the absolute run folder is not on any page.
    executed = (smoke_book.html / "notebooks" / "01_dataset.html").read_text()
    assert str(smoke_book.run) not in executed and "injected-parameters" not in executed
