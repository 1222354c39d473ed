"""Resuming and the book runner on careless input (issue #15 items 6, 8, 10-12, 17)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    from hrcam.data import generate_synthetic

    root = tmp_path_factory.mktemp("stores")
    for name, seed in (("a", 0), ("b", 1)):
        generate_synthetic(
            root / name,
            num_train=16,
            num_val=8,
            image_size=32,
            num_classes=3,
            seed=seed,
            num_workers=0,
        )
    return root / "a", root / "b"


def _clf(store, run_dir, **kw):
    from hrcam.train import train_classifier

    args = {"epochs": 1, "batch_size": 8, "device": "cpu", "progress": False, **kw}
    return train_classifier(data_root=store, run_dir=run_dir, **args)


@pytest.fixture(scope="module")
def finished(stores, tmp_path_factory):
    """A finished 2-epoch classifier run on store a."""
    run = tmp_path_factory.mktemp("clf") / "run"
    _clf(stores[0], run, epochs=2)
    return run


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "named"),
    [({"lr": 0.5, "epochs": 2}, "--lr"), ({"data": True, "epochs": 2}, "--data")],
)
def test_resume_with_changed_inputs_is_refused_naming_the_option(
    stores, finished, tmp_path, change, named
):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = (run / "last.pt").read_bytes()
    kw = {k: v for k, v in change.items() if k != "data"}
    store = stores[1] if change.get("data") else stores[0]
    with pytest.raises(ValueError, match=named):
        _clf(store, run, **kw)
    assert (run / "last.pt").read_bytes() == before  # nothing lost


@pytest.mark.slow
def test_resume_with_fewer_epochs_than_done_is_refused(stores, finished, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    with pytest.raises(ValueError, match="already trained 2 epoch"):
        _clf(stores[0], run, epochs=1)
    # the same relative/absolute path is the same store: resuming the finished run is a no-op
    result = _clf(Path(str(stores[0])).resolve(), run, epochs=2)
    assert len(result.history) == 2


@pytest.mark.slow
def test_resume_expansion_with_another_classifier_is_refused(stores, finished, tmp_path):
    from hrcam.train import train_expansion

    other = tmp_path / "other"
    shutil.copytree(finished, other)
    kw = {
        "epochs": 1,
        "batch_size": 8,
        "device": "cpu",
        "progress": False,
        "max_train_batches": 1,
        "data_root": stores[0],
        "run_dir": tmp_path / "exp",
    }
    train_expansion(classifier_checkpoint=finished / "best.pt", **kw)
    with pytest.raises(ValueError, match="--classifier"):
        train_expansion(classifier_checkpoint=other / "best.pt", **{**kw, "epochs": 2})


def test_train_run_dir_through_a_file_is_refused_before_work(stores, tmp_path, run_cli):
    (tmp_path / "f").write_text("x")
    status, _, err = run_cli(
        "train", "classifier", "--data", stores[0], "--run-dir", tmp_path / "f", "--device", "cpu"
    )
    assert status == 2 and "is a file, not a folder" in err and "Traceback" not in err


def test_evaluate_out_through_a_file_is_refused_before_work(stores, ck, tmp_path, run_cli):
    (tmp_path / "f").write_text("x")
    status, _, err = run_cli(
        "evaluate", "--checkpoint", ck, "--data", stores[0], "-o", tmp_path / "f"
    )
    assert status == 2 and "is a file, not a folder" in err
    assert not (tmp_path / "f").is_dir()


def test_os_errors_become_one_line_messages(run_cli, monkeypatch, tmp_path):
    import errno

    from hrcam.cli import build_parser

    def boom(args):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "x"))

    parser = build_parser()
    parser.set_defaults(func=boom)
    monkeypatch.setattr("hrcam.cli.build_parser", lambda: parser)
    status, _, err = run_cli()
    assert status == 2 and "Traceback" not in err
    assert err.strip() == (
        f"hrcam: error: Permission denied: '{tmp_path / 'x'}' (check its permissions or "
        "choose another location)"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [({"augment": "flase"}, "augment='flase'"), ({"classifier_epochs": "abc"}, "integer")],
)
def test_book_parameters_are_type_checked_before_anything_runs(tmp_path, params, message):
    from hrcam.book import run_book

    with pytest.raises(ValueError, match=message):
        run_book(
            "smoke", tmp_path / "run", params, root=REPO, book_dir=tmp_path / "book", build=False
        )
    assert not (tmp_path / "run").exists()  # refused before any folder was made


def test_book_values_of_the_right_type_pass():
    from hrcam.book.profiles import check_types

    check_types({"augment": False, "classifier_epochs": 3, "not_a_profile_name": "x"})


def test_book_run_dir_through_a_file_is_refused(tmp_path, run_cli):
    (tmp_path / "f").write_text("x")
    status, _, err = run_cli(
        "book", "--profile", "smoke", "--run-dir", tmp_path / "f", "--root", REPO, "--no-build"
    )
    assert status == 2 and "is a file, not a folder" in err


def test_book_root_is_the_checkout_of_the_current_folder(tmp_path, monkeypatch):
    from hrcam.book.runner import BookError, find_root

    clone = tmp_path / "clone"
    (clone / "notebooks").mkdir(parents=True)
    (clone / "book").mkdir()
    (clone / "notebooks" / "deep").mkdir()
    monkeypatch.chdir(clone / "notebooks" / "deep")
    assert find_root() == clone.resolve()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BookError, match="not inside an hrcam checkout"):
        find_root()


@pytest.mark.slow
def test_readme_papermill_command_runs_as_written(tmp_path):
    """The README's direct papermill route, on the fast first notebook of the smoke profile."""
    readme = (REPO / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("jupytext --to ipynb"))
    assert "-o -" in line and "papermill" in readme
    bin_dir = Path(sys.executable).parent
    out = tmp_path / "01.ipynb"
    cmd = (
        f"{bin_dir / 'jupytext'} --to ipynb -o - {REPO / 'notebooks' / '01_dataset.py'} | "
        f"{bin_dir / 'papermill'} - {out} -p profile smoke -p run_dir {tmp_path / 'run'}"
    )
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "No kernel name" not in done.stderr and out.is_file()


def test_every_notebook_names_its_kernel():
    import jupytext

    for src in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")):
        assert jupytext.read(src).metadata["kernelspec"]["name"] == "python3", src.name


def test_book_root_that_is_not_a_checkout_is_named(tmp_path, run_cli):
    status, _, err = run_cli("book", "--root", tmp_path / "nope", "--no-build")
    assert status == 2 and "is not an hrcam checkout" in err
