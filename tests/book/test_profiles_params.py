"""Profiles, parameter validation and the notebooks' parameters cells (fast, no execution)."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
import yaml

from hrcam.book import chapters, declared_parameters, find_notebooks, profiles, run_book
from hrcam.cli import main

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def test_every_profile_defines_every_parameter_and_differs():
    names = set(profiles.PROFILES["demo"])
    for name, values in profiles.PROFILES.items():
        assert set(values) == names, name
    # The profiles are meant to be different sizes of the same run.
    smoke, demo, paper = (profiles.resolve(p) for p in ("smoke", "demo", "paper"))
    assert smoke["num_train"] < demo["num_train"]
    assert smoke["classifier_epochs"] <= demo["classifier_epochs"] < paper["classifier_epochs"]
    assert paper["image_size"] == 224 and paper["arch"] == "densenet121"
    assert paper["classifier_epochs"] == paper["expansion_epochs"] == 50


def test_resolve_applies_overrides_and_keeps_none():
    cfg = profiles.resolve("smoke", classifier_epochs=3, image_size=None)
    assert cfg["classifier_epochs"] == 3
    assert cfg["image_size"] == profiles.PROFILES["smoke"]["image_size"]
    cfg["num_train"] = -1  # a fresh copy: the profile itself is untouched
    assert profiles.PROFILES["smoke"]["num_train"] > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "huge"}, "unknown profile 'huge'"),
        ({"profile": "demo", "epochs": 3}, "unknown parameter(s) epochs"),
        ({"profile": "demo", "names": ["seed", "epochz"]}, "unknown parameter(s) epochz"),
        ({"profile": "demo", "names": ["device", "num_examples"], "arch": "x"}, "arch"),
    ],
)
def test_resolve_rejects_unknown_names(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        profiles.resolve(**kwargs)


def test_notebook_config_rejects_injected_unknown_name():
    namespace = {"profile": "smoke", "run_dir": "r", "sample_index": None, "num_examples": 3}
    cfg = profiles.notebook_config("04_postprocess", {**namespace, "device": None})
    assert cfg["num_examples"] == 3
    assert cfg["sample_index"] == profiles.PROFILES["smoke"]["sample_index"]
    with pytest.raises(ValueError, match=r"unknown parameter.*sample_idx"):
        profiles.notebook_config("04_postprocess", {**namespace, "sample_idx": 4})
    # Modules, callables and private names in the globals are not parameters.
    ok = {**namespace, "np": pytest, "f": print, "_x": 1, "In": [], "Out": {}}
    assert profiles.notebook_config("04_postprocess", ok)["run_dir"] == "r"
    with pytest.raises(ValueError, match="unknown notebook '99_x'"):
        profiles.notebook_config("99_x", namespace)


@pytest.mark.parametrize("source", find_notebooks(NOTEBOOKS), ids=lambda p: p.stem)
def test_parameters_cell_matches_profiles(source):
    nb = jupytext.read(source)
    # The cell is the one list of the notebook's parameters: the two every notebook has,
    # then names the profiles give values to.
    declared = declared_parameters(nb)
    assert declared[:2] == ("profile", "run_dir")
    assert set(declared[2:]) <= set(profiles.PROFILES["demo"]), source.stem
    # The cell right after the parameters resolves them through the profiles.
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert f'notebook_config("{source.stem}", globals())' in nb.cells[tagged[0] + 1].source


def test_notebooks_are_the_registered_ones():
    assert [p.stem for p in find_notebooks(NOTEBOOKS)] == list(chapters.NOTEBOOKS)


def test_toc_lists_the_chapters_in_order():
    """``_toc.yml`` holds every chapter record's notebook, in the records' order."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    listed = [f.removeprefix("notebooks/") for f in files if f.startswith("notebooks/")]
    assert listed == list(chapters.NOTEBOOKS)


def test_every_chapter_has_its_own_stage_folder():
    stages = [c.stage for c in chapters.CHAPTERS]
    assert len(set(stages)) == len(stages)
    for c in chapters.CHAPTERS:
        assert (c.optional is None) == (c.needs is None) == (not c.title), c.notebook
        assert c.optional is None or c.optional in profiles.PROFILES["demo"], c.notebook


@pytest.mark.parametrize("source", find_notebooks(NOTEBOOKS), ids=lambda p: p.stem)
def test_jupytext_pair_in_sync_without_outputs(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} missing: run `jupytext --sync {source}`"
    py, ipynb = jupytext.read(source), jupytext.read(paired)
    assert [(c.cell_type, c.source) for c in py.cells] == [
        (c.cell_type, c.source) for c in ipynb.cells
    ], f"{source.name} and {paired.name} differ: run `jupytext --sync {source}`"
    assert ipynb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    for cell in ipynb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit without outputs"


def test_run_book_rejects_unknown_parameter_before_running(tmp_path):
    with pytest.raises(ValueError, match=r"unknown parameter.*epochs.*known parameters"):
        run_book("smoke", tmp_path / "run", {"epochs": 3}, book_dir=tmp_path / "book")
    with pytest.raises(ValueError, match="--profile/--run-dir"):
        run_book("smoke", tmp_path / "run", {"run_dir": "x"}, book_dir=tmp_path / "book")
    with pytest.raises(ValueError, match="unknown profile"):
        run_book("tiny", tmp_path / "run", book_dir=tmp_path / "book")
    assert not (tmp_path / "run").exists()  # nothing ran


def test_cli_reports_unknown_parameter(tmp_path, capsys):
    code = main(["book", "--profile", "smoke", "--run-dir", str(tmp_path), "-p", "epochz", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "epochz" in err and "Traceback" not in err
    code = main(["book", "-p", "seed", "1", "-p", "seed", "2"])
    assert code == 2 and "given twice" in capsys.readouterr().err


def test_declared_parameters_requires_plain_assignments():
    nb = jupytext.reads("# %% tags=['parameters']\nx = 1\nprint(x)\n", fmt="py:percent")
    with pytest.raises(ValueError, match="only assign"):
        declared_parameters(nb)
    nb = jupytext.reads("# %%\nx = 1\n", fmt="py:percent")
    with pytest.raises(ValueError, match="no code cell tagged 'parameters'"):
        declared_parameters(nb)
