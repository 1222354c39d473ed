"""A full disk (issue #23 item 3): every message names the file, ``torch.save``'s own error
included; a result set cut short is told from a finished one; the synthetic store's space
check counts whole file-system blocks. ENOSPC is simulated by patching the one system write
of :mod:`hrcam.atomic`, for writes into temporary files whose name contains a given part."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

import hrcam.atomic
from hrcam.atomic import atomic_write

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs Linux /proc")


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(part)``: writes to files whose name contains ``part`` fail with ENOSPC."""
    real = hrcam.atomic._write

    def fill(part: str) -> None:
        def write(raw, data):
            if part in os.readlink(f"/proc/self/fd/{raw.fileno()}"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(raw, data)

        monkeypatch.setattr(hrcam.atomic, "_write", write)

    return fill


def _one_line_naming(status, err, path):
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "No space left on device" in err and str(path) in err, err


def test_torch_save_on_a_full_disk_names_the_file(tmp_path, full_disk):
    import torch

    from hrcam.models.checkpoint import atomic_torch_save

    full_disk("x.pt")
    with pytest.raises(OSError) as info:  # was RuntimeError: [enforce fail at inline_container.cc
        atomic_torch_save({"w": torch.zeros(1000)}, tmp_path / "x.pt")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_short_write_without_errno_is_named(tmp_path, full_disk):
    def numpy_like(handle):  # numpy's tofile: "N requested and M written", no errno
        raise OSError("4096 requested and 992 written")

    full_disk("m.npy")
    with pytest.raises(OSError) as info:
        atomic_write(tmp_path / "m.npy", numpy_like)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "m.npy")


def test_other_errors_of_the_writer_pass_unchanged(tmp_path):
    def broken(handle):
        raise RuntimeError("not a write failure")

    with pytest.raises(RuntimeError, match="not a write failure"):
        atomic_write(tmp_path / "f", broken)
    with pytest.raises(OSError, match="elsewhere") as info:
        atomic_write(tmp_path / "f", lambda h: open(tmp_path / "elsewhere"))
    assert info.value.errno == errno.ENOENT


@pytest.mark.slow
def test_train_expansion_on_a_full_disk_is_one_line(tiny_run, tmp_path, full_disk, run_cli):
    from hrcam.train import train_classifier

    _, store = tiny_run
    clf = train_classifier(data_root=store, run_dir=tmp_path / "clf", epochs=1, batch_size=4,
                           device="cpu", progress=False)  # fmt: skip
    full_disk(".pt.")
    status, _, err = run_cli("train", "expansion", "--data", store, "--classifier",
                             clf.best_checkpoint, "--run-dir", tmp_path / "exp", "--epochs", "1",
                             "--batch-size", "4", "--device", "cpu", "--no-progress")  # fmt: skip
    _one_line_naming(status, err, tmp_path / "exp")
    assert ".pt" in err


def test_train_classifier_on_a_full_disk_names_the_file(tiny_run, tmp_path, full_disk, run_cli):
    _, store = tiny_run
    full_disk("metrics")
    status, _, err = run_cli("train", "classifier", "--data", store, "--run-dir", tmp_path / "r",
                             "--epochs", "1", "--batch-size", "4", "--device", "cpu",
                             "--no-progress")  # fmt: skip
    _one_line_naming(status, err, tmp_path / "r" / "metrics.")


@pytest.mark.slow
def test_evaluate_cut_short_is_told_from_a_finished_set(tiny_run, tmp_path, full_disk, run_cli,
                                                         monkeypatch):  # fmt: skip
    from hrcam.evaluate.results import COMPLETE_NAME, is_complete

    ckpt, store = tiny_run
    argv = ("evaluate", "--checkpoint", ckpt, "--data", store, "-o", tmp_path / "e", "--limit",
            "3", "--methods", "low_res_cam", "--faithfulness-limit", "0", "--road-limit", "0",
            "--bootstrap", "10", "--no-progress")  # fmt: skip
    assert run_cli(*argv)[0] == 0
    assert is_complete(tmp_path / "e")
    full_disk("curves.npz")
    status, _, err = run_cli(*argv)
    _one_line_naming(status, err, tmp_path / "e" / "curves.npz")
    # report.md and summary.json of the new run are there, but the set is marked unfinished.
    assert (tmp_path / "e" / "summary.json").exists() and not (
        tmp_path / "e" / COMPLETE_NAME
    ).exists()
    assert not is_complete(tmp_path / "e")
    monkeypatch.undo()
    assert run_cli(*argv)[0] == 0
    listed = json.loads((tmp_path / "e" / COMPLETE_NAME).read_text())["files"]
    assert "curves.npz" in listed and is_complete(tmp_path / "e")


@pytest.mark.slow
def test_explain_on_a_full_disk_names_the_file_and_writes_no_report(ck, tmp_path, full_disk,
                                                                    run_cli):  # fmt: skip
    from PIL import Image

    for name in ("a", "b"):
        Image.new("RGB", (40, 40)).save(tmp_path / f"{name}.png")
    full_disk("b_refined.npy")
    status, _, err = run_cli("explain", tmp_path / "a.png", tmp_path / "b.png", "--checkpoint",
                             ck, "-o", tmp_path / "o", "--no-progress")  # fmt: skip
    _one_line_naming(status, err, tmp_path / "o" / "b_refined.npy")
    left = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert "report.json" not in left and not any(n.startswith("b_") for n in left)


def test_data_synthetic_on_a_full_disk_names_the_file(tmp_path, full_disk, run_cli):
    full_disk("shard-")
    status, _, err = run_cli("data", "synthetic", "--out", tmp_path / "s", "--num-train", "4",
                             "--num-val", "2", "--image-size", "32", "--workers", "0",
                             "--no-progress")  # fmt: skip
    _one_line_naming(status, err, tmp_path / "s")
    assert "shard-" in err


def test_synthetic_space_estimate_counts_whole_blocks(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from hrcam.data.budget import check_synthetic_budget
    from hrcam.data.synthetic import generate_synthetic

    settings = {"num_train": 12, "num_val": 6, "image_size": 32, "shard_size": 2}
    generate_synthetic(tmp_path / "s", num_workers=0, **settings)
    used = sum(p.stat().st_blocks * 512 for p in (tmp_path / "s").rglob("*"))
    # A disk with one byte less than the store took must be refused up front.
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - used + 1, used - 1))
    with pytest.raises(ValueError, match="need about"):
        check_synthetic_budget(tmp_path / "new", 18, 32, 2, 1)
