"""Subprocess tests: a run SIGKILLed mid-epoch and resumed ends bit-identical to an
uninterrupted one; two torchrun processes on gloo end with identical weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hrcam.train.callbacks import KILL_ENV

HERE = Path(__file__).resolve().parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (KILL_ENV, "RANK", "WORLD_SIZE")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **extra)
    return env


def _train_cli(store: Path, run_dir: Path, **env: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-c",
        # One intra-op thread in every process, so that the arithmetic is identical.
        "import sys, torch; torch.set_num_threads(1); from hrcam.cli import main; "
        "sys.exit(main(sys.argv[1:]))",
        "train",
        "classifier",
        "--data",
        str(store),
        "--run-dir",
        str(run_dir),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--checkpoint-every",
        "2",
        "--device",
        "cpu",
        "--no-progress",
    ]
    return subprocess.run(
        command, env=_env(**env), capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_identical(tiny_store, tmp_path):
    # 40 images / batch 8 = 5 steps per epoch; killed after step 7 (epoch 2, batch 2), with
    # the last checkpoint at step 6, so the resume replays a step in the middle of an epoch.
    from hrcam.train import train_classifier

    reference = train_classifier(
        data_root=tiny_store,
        run_dir=tmp_path / "straight",
        epochs=2,
        batch_size=8,
        checkpoint_every=2,
        device="cpu",
        progress=False,
    )
    killed = _train_cli(tiny_store, tmp_path / "killed", **{KILL_ENV: "7"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    state = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)["extra"]
    assert (state["epoch"], state["batch"], state["global_step"]) == (1, 1, 6)

    resumed = _train_cli(tiny_store, tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed at epoch 2 batch 1" in resumed.stdout

    straight = torch.load(reference.last_checkpoint, weights_only=True)
    again = torch.load(tmp_path / "killed" / "last.pt", weights_only=True)
    assert straight["classifier"].keys() == again["classifier"].keys()
    for key, value in straight["classifier"].items():
        assert torch.equal(value, again["classifier"][key]), key
    for a, b in zip(
        straight["extra"]["optimizer"]["state"].values(),
        again["extra"]["optimizer"]["state"].values(),
        strict=True,
    ):
        assert all(torch.equal(a[k], b[k]) for k in a)
    # The per-epoch metrics agree too (timings aside).
    for row_a, row_b in zip(straight["extra"]["history"], again["extra"]["history"], strict=True):
        for key in ("train_loss", "val_loss", "val_top1", "lr", "global_step"):
            assert row_a[key] == row_b[key], key


@pytest.mark.slow
def test_two_process_ddp_on_gloo_agrees(tmp_path):
    out = tmp_path / "rank{rank}.pt"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(HERE / "standin.py"),
        "--run-dir",
        str(tmp_path / "run"),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--checkpoint-every",
        "3",
    ]
    proc = subprocess.run(
        command, env=_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key, value in rank0["state_dict"].items():
        assert torch.equal(value, rank1["state_dict"][key]), key  # BatchNorm buffers included
    assert rank0["history"][-1]["val_loss"] == rank1["history"][-1]["val_loss"]
    # 96 images over 2 ranks at batch 8: 6 steps per epoch, each on half the data.
    assert [row["global_step"] for row in rank0["history"]] == [6, 12]
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["extra"]
    assert last["world_size"] == 2 and len(last["per_rank"]) == 2
    # Each rank drew its own augmentation stream.
    gens = [r["rng"]["generators"]["augment"] for r in last["per_rank"]]
    assert not torch.equal(gens[0], gens[1])
