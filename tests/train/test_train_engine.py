"""The generic engine on a tiny stand-in model: metrics files, checkpoints, resume rules,
schedule, RNG capture, data order, device switches."""

from __future__ import annotations

import csv
import json
import math
import random

import numpy as np
import pytest
import torch

from hrcam.train.config import TrainConfig
from hrcam.train.device import maybe_compile, resolve_device, resolve_settings
from hrcam.train.loaders import ResumableSampler, collate_image_label
from hrcam.train.loop import build_scheduler
from hrcam.train.rng import capture_rng_state, restore_rng_state


def test_fit_writes_metrics_and_checkpoints(standin, tmp_path):
    result, model = standin.run(standin.config(tmp_path / "run"))
    history = result.history
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert [row["global_step"] for row in history] == [12, 24, 36]  # 96 images / 8
    for row in history:
        assert math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"])
        assert 0.0 <= row["val_top1"] <= 1.0
        assert row["lr"] == 1.0  # adadelta's default learning rate
        assert row["train_img_per_s"] > 0

    with open(result.metrics_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["val_loss"]) for r in rows] == [r["val_loss"] for r in history]
    assert json.loads(result.metrics_json.read_text()) == history

    last = torch.load(result.last_checkpoint, weights_only=True)
    assert last["extra"]["epoch"] == 3 and last["extra"]["batch"] == 0
    for key, value in model.state_dict().items():
        assert torch.equal(last["state_dict"][key], value)
    best = torch.load(result.best_checkpoint, weights_only=True)
    best_row = max(history, key=lambda r: r["val_top1"])
    assert best["extra"]["epoch"] == best_row["epoch"] == result.best_epoch
    assert result.best_value == best_row["val_top1"]
    assert "best val_top1" in result.summary()


def test_training_learns_the_standin_problem(standin, tmp_path):
    # Which channel is brighter is learnable: validation beats chance (0.5) clearly.
    config = standin.config(tmp_path / "run", epochs=6, scheduler="none")
    result, _ = standin.run(config, num_train=128, num_val=64)
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"]
    assert last["val_top1"] >= 0.75


def test_finished_run_resumes_as_a_no_op(standin, tmp_path):
    config = standin.config(tmp_path / "run", epochs=2)
    first, _ = standin.run(config)
    again, model = standin.run(config)
    assert again.resumed_from == (2, 0)
    assert again.history == first.history
    saved = torch.load(first.last_checkpoint, weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_more_epochs_extend_a_finished_run(standin, tmp_path):
    standin.run(standin.config(tmp_path / "run", epochs=1))
    longer, _ = standin.run(standin.config(tmp_path / "run", epochs=2))
    assert longer.resumed_from == (1, 0)
    assert [row["epoch"] for row in longer.history] == [1, 2]


def test_resume_refuses_a_different_trajectory(standin, tmp_path):
    standin.run(standin.config(tmp_path / "run", epochs=1))
    with pytest.raises(ValueError, match=r"batch_size=8.*batch_size=4"):
        standin.run(standin.config(tmp_path / "run", epochs=2, batch_size=4))


def test_no_resume_starts_afresh(standin, tmp_path):
    first, _ = standin.run(standin.config(tmp_path / "run", epochs=2))
    fresh, _ = standin.run(standin.config(tmp_path / "run", epochs=1, resume=False))
    assert fresh.resumed_from is None
    assert [row["epoch"] for row in fresh.history] == [1]
    assert fresh.history[0]["train_loss"] == first.history[0]["train_loss"]
    assert len(json.loads(fresh.metrics_json.read_text())) == 1


def test_cuda_code_paths_run_on_cpu(standin, tmp_path):
    # bf16 autocast and channels_last, as on a GPU; the loss is still computed in fp32.
    result, model = standin.run(
        standin.config(tmp_path / "run", epochs=1, amp=True, channels_last=True)
    )
    assert result.settings["amp"] and result.settings["channels_last"]
    assert math.isfinite(result.history[0]["train_loss"])
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_empty_split_is_a_clear_error(standin, tmp_path):
    task = standin.StandInTask(standin.TinyNet())
    from hrcam.train import fit

    empty = standin.make_data(0, 0)
    with pytest.raises(ValueError, match="training split is empty"):
        fit(task, empty, standin.make_data(8, 1), standin.config(tmp_path / "run"))


def test_default_schedule_is_the_reference_one():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adadelta([param], lr=1.0)
    scheduler = build_scheduler(optimizer, TrainConfig())
    lrs = []
    for _ in range(40):
        scheduler.step(1.0)  # a validation loss that never improves
        lrs.append(optimizer.param_groups[0]["lr"])
    # patience 10: the first cut comes on the 12th flat epoch, by sqrt(0.1), then every 11.
    assert lrs[10] == 1.0
    assert lrs[11] == pytest.approx(math.sqrt(0.1))
    assert lrs[22] == pytest.approx(0.1)
    assert build_scheduler(optimizer, TrainConfig(scheduler="none")) is None
    assert scheduler.min_lrs == [1e-5]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "epochs must be a positive integer"),
        ("batch_size", -1, "batch_size"),
        ("lr", float("nan"), "lr must be"),
        ("optimizer", "lbfgs", "optimizer must be one of"),
        ("scheduler", "cosine", "scheduler must be one of"),
        ("plateau_factor", 1.5, "plateau_factor"),
        ("augment_p", 2.0, "augment_p"),
        ("task", "segmentation", "task must be one of"),
        ("checkpoint_every", -3, "checkpoint_every"),
    ],
)
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_expansion_config_needs_a_classifier():
    with pytest.raises(ValueError, match="classifier_checkpoint is required"):
        TrainConfig(task="expansion")


def test_config_round_trips_through_a_dict():
    config = TrainConfig(epochs=3, run_dir="x", device="cpu")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({**config.to_dict(), "epoch": 3})


def test_rng_state_round_trip():
    generator = torch.Generator().manual_seed(5)
    torch.rand(3)
    state = capture_rng_state({"augment": generator})
    expected = (
        torch.rand(4),
        np.random.rand(4),  # noqa: NPY002 (the global state is what is being tested)
        [random.random() for _ in range(4)],
        torch.rand(4, generator=generator),
    )
    torch.rand(10), np.random.rand(10), random.random(), torch.rand(9, generator=generator)  # noqa: NPY002
    restore_rng_state(state, {"augment": generator})
    again = (
        torch.rand(4),
        np.random.rand(4),  # noqa: NPY002
        [random.random() for _ in range(4)],
        torch.rand(4, generator=generator),
    )
    assert torch.equal(expected[0], again[0])
    assert np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]
    assert torch.equal(expected[3], again[3])
    # Plain data only: a weights_only load must accept it.
    buffer = __import__("io").BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)


def test_sampler_order_position_and_shards():
    sampler = ResumableSampler(50, seed=3)
    sampler.set_epoch(0)
    epoch0 = list(sampler)
    assert sorted(epoch0) == list(range(50))
    sampler.set_epoch(1)
    assert list(sampler) != epoch0  # a new permutation each epoch
    sampler.set_epoch(0)
    sampler.set_position(16)
    assert list(sampler) == epoch0[16:] and len(sampler) == 34
    shards = [ResumableSampler(50, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    for shard in shards:
        shard.set_epoch(0)
    seen = list(shards[0]) + list(shards[1])
    assert len(seen) == 50 and set(seen) == set(range(50))  # 25 each, no overlap
    with pytest.raises(ValueError, match="empty"):
        ResumableSampler(0)


def test_collate_accepts_store_items_and_pairs():
    image = torch.zeros(3, 4, 4, dtype=torch.uint8)
    images, labels = collate_image_label([{"image": image, "label": 2, "mask": None}] * 2)
    assert images.shape == (2, 3, 4, 4) and labels.tolist() == [2, 2]
    images, labels = collate_image_label([(image, torch.tensor(1))])
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64


def test_device_resolution_and_errors():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    cpu = resolve_settings("cpu")
    assert not cpu.amp and cpu.channels_last and not cpu.pin_memory and cpu.num_workers == 0
    module = torch.nn.Linear(2, 2)
    assert maybe_compile(module, cpu) is module
    compiled = maybe_compile(module, resolve_settings("cpu", compile=True))
    assert compiled is not module and compiled._orig_mod is module  # compiled lazily
