"""The intro's generated parts say what the profiles and the run say, and nothing typed."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from hrcam.book import chapters, profiles
from hrcam.book.chapters import NOTEBOOK_ROLES
from hrcam.book.config_view import NotebookConfig, config_markdown
from hrcam.book.pages import (
    PROFILE_PURPOSES,
    RunFacts,
    format_seconds,
    hide_injected_parameters,
    notebook_table,
    profile_table,
    run_summary,
    write_intro_parts,
)

REPO = Path(__file__).resolve().parents[2]


def test_every_chapter_and_profile_has_its_words():
    assert list(NOTEBOOK_ROLES) == list(chapters.NOTEBOOKS)
    assert set(PROFILE_PURPOSES) == set(profiles.PROFILES)


def test_notebook_table_lists_every_notebook_in_order():
    table = notebook_table(chapters.NOTEBOOKS, chapters.STAGE_DIRS, NOTEBOOK_ROLES)
    rows = table.splitlines()[2:]
    assert len(rows) == len(chapters.NOTEBOOKS) == 13
    assert rows[-1].startswith("| {doc}`notebooks/13_claims` |") and "`claims/`" in rows[-1]
    with pytest.raises(KeyError):
        notebook_table(["99_new"], {"99_new": "new"}, NOTEBOOK_ROLES)


def test_profile_table_reads_the_sizes_from_the_profiles():
    demo = profiles.PROFILES["demo"]
    table = profile_table(profiles.PROFILES, "demo")
    row = next(r for r in table.splitlines() if r.startswith("| `demo` (default)"))
    assert f"{demo['num_train']} + {demo['num_val']} synthetic images" in row
    assert f"| {demo['classifier_epochs']} + {demo['expansion_epochs']} |" in row
    assert f"{demo['cutout_num_train']} + {demo['cutout_num_val']} images" in row
    # A changed profile changes the table: nothing in it is typed.
    changed = {"demo": {**demo, "num_train": 7, "classifier_epochs": 9, "real_cutouts": False}}
    row = profile_table(changed, "demo").splitlines()[2]
    assert "7 + " in row and "| 9 + " in row and "| skipped |" in row
    paper = profile_table({"paper": profiles.PROFILES["paper"]}, "demo").splitlines()[2]
    assert "ImageNet animals (398 classes, every image)" in paper and "DenseNet-121" in paper


def test_run_summary_shows_the_measured_times():
    facts = RunFacts("demo", {"01_dataset": 3.2, "02_classifier": 75.0, "99_other": 5.0})
    text = run_summary(facts, ["01_dataset", "02_classifier", "03_expansion"])
    assert "`demo` profile" in text and "2 notebooks took 1 min 18 s" in text
    assert "| {doc}`notebooks/02_classifier` | 75 |" in text and "03_expansion" not in text
    assert "recorded no notebook times" in run_summary(None, chapters.NOTEBOOKS)
    assert format_seconds(8.4) == "8 s" and format_seconds(1102) == "18 min 22 s"


def test_run_facts_read_the_manifest():
    manifest = {"01_dataset": {"key": "k", "seconds": 3.0}, "02_classifier": {"started": "k"}}
    assert RunFacts.from_manifest("smoke", manifest).seconds == {"01_dataset": 3.0}


def test_intro_includes_every_generated_part(tmp_path):
    written = write_intro_parts(tmp_path, RunFacts("smoke", {"01_dataset": 1.0}))
    intro = (REPO / "book" / "intro.md").read_text()
    for path in written:
        assert f"{{include}} _generated/{path.name}" in intro
        assert path.read_text().strip()
    # The intro itself types no count of notebooks, no epochs, no minutes.
    assert not re.search(r"\b(six|\d+) notebooks\b|≈|\d+ minutes", intro)


def test_injected_parameters_cell_is_removed_from_the_page(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('run_dir = "runs/demo"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            'run_dir = "/home/me/hrcam/runs/demo"', metadata={"tags": ["injected-parameters"]}
        ),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert hide_injected_parameters(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].metadata.tags == ["parameters"]
    assert cells[1].metadata.tags == ["injected-parameters", "remove-cell"]
    assert not hide_injected_parameters(path)  # already tagged: the file is left alone


def test_notebook_config_shows_a_table_without_the_absolute_run_folder():
    cfg = profiles.notebook_config(
        "01_dataset", {"profile": "smoke", "run_dir": "/home/me/hrcam/runs/smoke", "seed": None}
    )
    assert isinstance(cfg, NotebookConfig) and cfg["run_dir"] == "/home/me/hrcam/runs/smoke"
    shown = cfg._repr_markdown_()
    assert shown.startswith("| Parameter | Value |") and "| `run_dir` | `smoke` |" in shown
    assert "/home/me" not in shown and "{'" not in shown
    assert "| `variants` | `a`, `b` |" in config_markdown({"variants": ["a", "b"]})
    assert "| `cutout_stamps` | `…/stamps` |" in config_markdown({"cutout_stamps": "/tmp/x/stamps"})


def test_a_zero_width_interval_prints_as_the_value_alone():
    from hrcam.evaluate.report import ci_cell, paired_cell

    one = {"metric": "road", "n": 1, "mean": 0.004, "ci_low": 0.004, "ci_high": 0.004}
    assert ci_cell(one) == "0.004"
    timed = {"metric": "runtime_ms", "n": 16, "mean": 5.0, "ci_low": 5.0, "ci_high": 5.0}
    assert ci_cell(timed) == "5.0"
    many = {"metric": "pxap", "n": 16, "mean": 0.3, "ci_low": 0.25, "ci_high": 0.35}
    assert ci_cell(many) == "0.300 [0.250, 0.350]"
    nan = float("nan")
    assert ci_cell({"metric": "pxap", "n": 0, "mean": nan, "ci_low": nan, "ci_high": nan}) == (
        "nan [nan, nan]"
    )
    assert paired_cell({"difference": -0.1, "ci_low": -0.1, "ci_high": -0.1}) == "-0.100"
    assert (
        paired_cell({"difference": 0.1, "ci_low": 0.0, "ci_high": 0.2}) == "+0.100 [+0.000, +0.200]"
    )


def test_values_markdown_shows_a_nested_summary_without_a_repr():
    from hrcam.book.config_view import values_markdown

    text = values_markdown({"label": 0, "presets": {"paper": {"fallback": False, "area": 0.12345}}})
    assert (
        "| presets › paper › fallback | no |" in text
        and "| presets › paper › area | 0.1235 |" in text
    )
    assert "{'" not in text and text.startswith("| Value | |")


@pytest.mark.parametrize(
    ("notebook", "key"),
    [("13_claims", "claims-two-columns"), ("10_real_cutouts", "cut_skipped")],
)
def test_glued_tables_are_pasted_as_blocks(notebook, key):
    """A table glued into a paragraph by the inline role is never parsed: raw pipes on the page."""
    text = (REPO / "notebooks" / f"{notebook}.py").read_text()
    assert f"{{glue:md}}`{key}`" not in text
    assert re.search(rf"```{{glue:md}} {key}\n# :format: gfm\n# ```", text)
