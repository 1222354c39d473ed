"""Notebook 10's front section, run on a tiny evaluation: the cell code exactly as in the book."""

from __future__ import annotations

from pathlib import Path

import jupytext

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "10_real_cutouts.py"


def _front_cell() -> str:
    nb = jupytext.read(NOTEBOOK)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "pareto_front(" in c.source]
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
    result = evaluate(model, StoreDataset(store, "val"), methods=["low_res_cam", "cam_jbu"],
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
    exec(_front_cell(), namespace)  # the book's own cell
    front = namespace["front"]
    assert front and set(front) <= {"low_res_cam", "cam_jbu"}
    assert glued["cut_front"].data.count("`") == 2 * len(front)
    assert glued["fig-cutout-front"].axes[0].get_xscale() == "log"
