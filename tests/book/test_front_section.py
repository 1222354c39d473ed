"""Notebook 10's front section, run on a tiny evaluation: the cell code exactly as in the book."""

from __future__ import annotations

from pathlib import Path

import jupytext

METHODS = ["low_res_cam", "cam_jbu", "cam_bilateral", "cam_guided"]
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "10_real_cutouts.py"


def _cell(marker: str) -> str:
    nb = jupytext.read(NOTEBOOK)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return cell.source


def test_the_front_cell_reads_the_chapter_rows_and_glues_the_front(tiny_run, tmp_path):
    from IPython.display import Markdown

    from hrcam import plotting
    from hrcam.data.store import StoreDataset
    from hrcam.evaluate import evaluate
    from hrcam.models import load_checkpoint
    from hrcam.studies import comparison

    ckpt, store = tiny_run
    model = load_checkpoint(ckpt).model().eval()
    result = evaluate(model, StoreDataset(store, "val"), methods=METHODS,
                      limit=4, batch_size=4, faithfulness_limit=0, road_limit=0, n_boot=20,
                      progress=False, workers=1)  # fmt: skip
    result.save(tmp_path / "evaluation")
    assert "## Ranking by cost" in (tmp_path / "evaluation" / "report.md").read_text()
    comp = comparison.load_evaluation(tmp_path / "evaluation")
    glued: dict[str, object] = {}
    namespace = {
        "comp": comp,
        "plotting": plotting,
        "Markdown": Markdown,
        "glue": lambda key, value, display=True: glued.__setitem__(key, value),
    }
    exec(_cell("pareto_front("), namespace)  # the book's own cell
    front = namespace["front"]
    assert front and set(front) <= set(METHODS)
    assert glued["cut_front"].data.count("`") == 2 * len(front)
    assert glued["fig-cutout-front"].axes[0].get_xscale() == "log"
    # The next cell: cam_jbu against both filters, means and paired differences.
    namespace["cfg"] = {"seed": 0}
    exec(_cell("jbu_comparison("), namespace)
    jbu = namespace["jbu"]
    assert jbu["compared"] == ["cam_bilateral", "cam_guided"]
    text = jbu["text"]
    for name in ("`cam_jbu`", "`cam_bilateral`", "`cam_guided`", "MaxBoxAccV2"):
        assert name in text
    assert jbu["paired"]  # per-image metrics (the pointing game at least) are paired
    for (rival, _metric), row in jbu["paired"].items():
        assert row["n"] == 4 and f"`cam_jbu` − `{rival}`" in text


def test_the_jbu_comparison_says_when_it_has_nothing_to_compare():
    from types import SimpleNamespace

    from hrcam.studies.bilateral import jbu_comparison

    out = jbu_comparison(SimpleNamespace(methods=["low_res_cam", "cam_jbu"]))
    assert out["text"].startswith("Not measured") and out["compared"] == []
