"""The photo-faithfulness chapter without gcompris-qt-data: refused up front, or skipped."""

import nbformat
import pytest

from hrcam.book import run_book
from hrcam.data import animal_photos
from hrcam.errors import HrcamError


def _no_gcompris(monkeypatch):
    monkeypatch.setattr(animal_photos, "missing_photo_packages", lambda: ["gcompris-qt-data"])


def test_missing_package_refused_before_anything_runs(monkeypatch, tmp_path):
    _no_gcompris(monkeypatch)
    with pytest.raises(HrcamError) as err:
        run_book(
            "smoke", tmp_path / "run", book_dir=tmp_path / "book",
            only=["12_photo_faithfulness"], progress=False, log=lambda s: None,
        )  # fmt: skip
    message = str(err.value)
    assert "apt-get install gcompris-qt-data" in message
    assert "-p photo_faithfulness false" in message
    assert "real_cutouts" not in message  # only the chapters this run executes are checked
    assert not (tmp_path / "run").exists()


def test_skipped_chapter_gets_a_page_that_says_so(monkeypatch, tmp_path):
    _no_gcompris(monkeypatch)
    result = run_book(
        "smoke", tmp_path / "run", {"photo_faithfulness": False}, book_dir=tmp_path / "book",
        only=["12_photo_faithfulness"], build=False, progress=False, log=lambda s: None,
    )  # fmt: skip
    (run,) = result.notebooks
    nb = nbformat.read(run.output, as_version=4)
    assert not [c for c in nb.cells if c.cell_type == "code"]
    assert "skipped in this run (`-p photo_faithfulness false`)" in nb.cells[0].source


def test_claims_text_without_the_chapter(tmp_path):
    from hrcam.studies.claims import photo_faithfulness_text
    from hrcam.studies.photo_faithfulness import save_photo_values

    assert "did not run" in photo_faithfulness_text(tmp_path)
    stage = tmp_path / "photo_faithfulness"
    stage.mkdir()
    save_photo_values({"photos": 3, "expansion_trained": False, "statement": "X fails."}, stage)
    text = photo_faithfulness_text(tmp_path)
    assert text.startswith("On 3 untouched animal photos") and text.endswith("X fails.")
    assert "without the cut-out chapter's expansion network" in text


def test_installed_only_measures_what_is_there(monkeypatch, tmp_path):
    """The tests' setting: photos of a missing package are left out, not refused."""
    import dataclasses

    from hrcam.book.sources import check_chapter_sources, optional_configs

    real = animal_photos.photo_list()
    chelsea = next(p for p in real if p.file.startswith("skimage:"))
    gone = dataclasses.replace(real[0], file=str(tmp_path / "missing.rcc"))
    monkeypatch.setattr(animal_photos, "photo_list", lambda: (gone, chelsea))
    with pytest.raises(HrcamError, match="apt-get install"):
        animal_photos.load_animal_photos(32)
    photos, images = animal_photos.load_animal_photos(32, installed_only=True)
    assert [p.key for p in photos] == [chelsea.key] and images.shape == (1, 32, 32, 3)
    # ...and the book's up-front check lets such a run start; the default refuses it.
    only = ["12_photo_faithfulness"]
    declared = {only[0]: ("photo_faithfulness", "photo_installed_only")}
    installed_only = optional_configs("smoke", {"photo_installed_only": True}, declared)
    check_chapter_sources(installed_only, only)
    with pytest.raises(HrcamError, match="gcompris-qt-data"):
        check_chapter_sources(optional_configs("smoke", {}, declared), only)
