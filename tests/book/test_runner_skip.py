"""The papermill runner on tiny throwaway notebooks: skipping, reruns, failures."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from hrcam.book import BookError, run_book
from hrcam.book.runner import MANIFEST_NAME

FIRST = """\
# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
value = 1

# %%
from pathlib import Path
Path(run_dir, "data").mkdir(parents=True, exist_ok=True)
Path(run_dir, "data", "value.txt").write_text(str(value))
print("wrote", value)
"""

SECOND = """\
# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"

# %%
from pathlib import Path
print("read", Path(run_dir, "data", "value.txt").read_text())
"""

FAILING = """\
# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"

# %%
numerator = 1
numerator / 0
"""


INTERRUPTIBLE = """\
# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
resume = False
value = 1

# %%
from pathlib import Path
log = Path(run_dir, "resume-log.txt")
log.write_text((log.read_text() if log.exists() else "") + f"{resume}\\n")
if not Path(run_dir, "go").exists():
    raise RuntimeError("interrupted")
"""


def _write(folder: Path, sources: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in sources.items():
        (folder / f"{name}.py").write_text(text)
    return folder


def _run(tmp_path: Path, **kwargs):
    lines: list[str] = []
    result = run_book(
        "smoke",
        tmp_path / "run",
        notebooks_dir=tmp_path / "nb",
        book_dir=tmp_path / "book",
        build=False,
        progress=False,
        log=lines.append,
        **kwargs,
    )
    return {r.name: r.status for r in result.notebooks}, lines


def _stdout(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_runner_skips_unchanged_and_reruns_on_change(tmp_path, monkeypatch):
    # "01_dataset" writes run_dir/data, the stage folder the second notebook depends on.
    _write(tmp_path / "nb", {"01_dataset": FIRST, "02_reader": SECOND})
    status, _ = _run(tmp_path)
    assert status == {"01_dataset": "ran", "02_reader": "ran"}
    out = tmp_path / "book" / "notebooks"
    assert "read 1" in _stdout(out / "02_reader.ipynb")
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["01_dataset"]["parameters"]["profile"] == "smoke"

    status, lines = _run(tmp_path)
    assert status == {"01_dataset": "skipped", "02_reader": "skipped"}
    assert any("unchanged, skipped" in line for line in lines)

    # A new parameter value reruns the notebook that declares it, and the changed output
    # of that notebook reruns the one after it.
    status, _ = _run(tmp_path, overrides={"value": "7"})
    assert status == {"01_dataset": "ran", "02_reader": "ran"}
    assert "read 7" in _stdout(out / "02_reader.ipynb")

    # Editing a source reruns that notebook only (its inputs are unchanged).
    (tmp_path / "nb" / "02_reader.py").write_text(SECOND + "print('edited')\n")
    status, _ = _run(tmp_path, overrides={"value": "7"})
    assert status == {"01_dataset": "skipped", "02_reader": "ran"}

    # Deleting a notebook's outputs from the run folder reruns it; --force reruns regardless.
    (tmp_path / "run" / "data" / "value.txt").unlink()
    status, _ = _run(tmp_path, overrides={"value": "7"}, only=["01_dataset"])
    assert status == {"01_dataset": "ran"}
    status, _ = _run(tmp_path, overrides={"value": "7"}, only=["02_reader"], force=True)
    assert status == {"02_reader": "ran"}


@pytest.mark.slow
def test_failing_notebook_stops_and_shows_the_cell(tmp_path):
    _write(tmp_path / "nb", {"01_dataset": FIRST, "02_bad": FAILING, "03_after": SECOND})
    with pytest.raises(BookError) as info:
        _run(tmp_path)
    message = str(info.value)
    assert "notebook 02_bad failed" in message
    assert "numerator / 0" in message and "ZeroDivisionError" in message
    out = tmp_path / "book" / "notebooks"
    # The failing notebook never becomes a page, and nothing after it ran.
    assert (out / "01_dataset.ipynb").exists()
    assert not (out / "02_bad.ipynb").exists() and not (out / "03_after.ipynb").exists()
    assert (tmp_path / "run" / "_notebooks" / "02_bad.ipynb").exists()
    # Only the attempt is recorded, never a completed run that a rerun could skip.
    entry = json.loads((out / MANIFEST_NAME).read_text())["02_bad"]
    assert set(entry) == {"started"}


def test_runner_rejects_parameter_a_notebook_does_not_declare(tmp_path):
    _write(tmp_path / "nb", {"01_dataset": FIRST})
    with pytest.raises(ValueError, match=r"unknown parameter.*nope"):
        _run(tmp_path, overrides={"nope": 1})
    with pytest.raises(ValueError, match="unknown notebook"):
        _run(tmp_path, only=["09_missing"])


@pytest.mark.slow
def test_interrupted_notebook_is_told_to_resume_only_with_the_same_inputs(tmp_path):
    _write(tmp_path / "nb", {"01_train": INTERRUPTIBLE})
    run, log = tmp_path / "run", tmp_path / "run" / "resume-log.txt"
    with pytest.raises(BookError, match="interrupted"):
        _run(tmp_path)
    (run / "go").touch()
    status, lines = _run(tmp_path)  # same inputs as the failed attempt: resume
    assert status == {"01_train": "ran"}
    assert any("resuming an interrupted attempt" in line for line in lines)
    assert log.read_text().split() == ["False", "True"]

    # A completed run rerun by --force, or an attempt with other inputs, starts afresh.
    _run(tmp_path, force=True)
    (run / "go").unlink()
    with pytest.raises(BookError):
        _run(tmp_path, overrides={"value": "2"})
    (run / "go").touch()
    _run(tmp_path, overrides={"value": "3"})
    assert log.read_text().split() == ["False", "True", "False", "False", "False"]
    # An explicit -p resume wins over the runner's choice.
    _run(tmp_path, overrides={"value": "3", "resume": "true"}, force=True)
    assert log.read_text().split()[-1] == "True"
