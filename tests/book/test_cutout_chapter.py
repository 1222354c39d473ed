"""The real cut-out chapter without its Debian packages: refused up front, or skipped by name."""

import nbformat
import pytest

from hrcam.book import run_book
from hrcam.data import cutouts
from hrcam.errors import HrcamError


def test_missing_packages_refused_before_anything_runs(monkeypatch, tmp_path):
    monkeypatch.setattr(cutouts, "STAMPS_ROOT", tmp_path / "no-stamps")
    book = tmp_path / "book"
    with pytest.raises(HrcamError) as err:
        run_book("smoke", tmp_path / "run", book_dir=book, progress=False, log=lambda s: None)
    message = str(err.value)
    assert "apt-get install tuxpaint-stamps-default" in message
    assert "-p real_cutouts false" in message
    assert not (tmp_path / "run").exists() and not (book / "notebooks").exists()


def test_stamps_folder_given_needs_no_stamps_package(monkeypatch, tmp_path, cutout_sources):
    monkeypatch.setattr(cutouts, "STAMPS_ROOT", tmp_path / "no-stamps")
    stamps, backgrounds = cutout_sources
    overrides = {"cutout_stamps": str(stamps), "cutout_backgrounds": str(backgrounds)}
    result = run_book(
        "smoke", tmp_path / "run", overrides, book_dir=tmp_path / "book", only=["01_dataset"],
        build=False, progress=False, log=lambda s: None,
    )  # fmt: skip
    assert [r.name for r in result.notebooks] == ["01_dataset"]


def test_skipped_chapter_gets_a_page_that_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(cutouts, "STAMPS_ROOT", tmp_path / "no-stamps")
    result = run_book(
        "smoke", tmp_path / "run", {"real_cutouts": False}, book_dir=tmp_path / "book",
        only=["10_real_cutouts"], build=False, progress=False, log=lambda s: None,
    )  # fmt: skip
    (run,) = result.notebooks
    nb = nbformat.read(run.output, as_version=4)
    assert not [c for c in nb.cells if c.cell_type == "code"]
    assert "skipped in this run (`-p real_cutouts false`)" in nb.cells[0].source
