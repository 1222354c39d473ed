"""The real tasks on a tiny synthetic store: classifier pre-training, expansion training with
the classifier frozen, the CLI."""

from __future__ import annotations

import math

import pytest
import torch

from hrcam.cli import main as cli_main
from hrcam.models import build_classifier, build_expansion, load_checkpoint, save_checkpoint
from hrcam.train import ClassifierTask, train_classifier, train_expansion
from hrcam.train.rng import seed_everything


def test_classifier_run_metrics_and_checkpoint(trained_classifier, tiny_store):
    checkpoint = load_checkpoint(trained_classifier, expected_kind="classifier")
    assert checkpoint.metadata["image_size"] == 32
    assert checkpoint.metadata["num_classes"] == 3 == len(checkpoint.metadata["class_names"])
    assert checkpoint.metadata["arch"] == "densenet_compact"
    row = checkpoint.extra["metrics"]
    assert {"train_loss", "val_loss", "val_top1", "val_top5", "lr"} <= set(row)
    assert row["val_top5"] == 1.0  # 3 classes: the top "5" always holds the label
    assert 0.0 <= row["val_top1"] <= 1.0
    # Cross-entropy of a 3-way classifier after one epoch stays near log(3).
    assert 0.5 < row["val_loss"] < 3.0


def test_training_augmentation_is_on_device_and_seeded():
    task = ClassifierTask(torch.nn.Identity(), augment=True, augment_p=1.0)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    plain = task.preprocess(images, train=False, generator=None)
    first = task.preprocess(images, train=True, generator=torch.Generator().manual_seed(1))
    again = task.preprocess(images, train=True, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(first, plain)
    assert torch.equal(first, again)
    # Normalised with the ImageNet statistics: uint8 0 maps to -mean/std.
    assert plain.min().item() == pytest.approx(-0.485 / 0.229, rel=1e-5)


def test_expansion_trains_with_the_classifier_frozen(trained_classifier, tiny_store, tmp_path):
    result = train_expansion(
        data_root=tiny_store,
        run_dir=tmp_path / "exp",
        classifier_checkpoint=trained_classifier,
        epochs=2,
        batch_size=8,
        device="cpu",
        progress=False,
    )
    assert [row["epoch"] for row in result.history] == [1, 2]
    for row in result.history:
        assert {"val_loss", "val_mse", "val_psnr"} <= set(row)
        # Mean per-image PSNR >= PSNR of the mean MSE (Jensen): both computed on [0, 1].
        assert row["val_psnr"] >= 10 * math.log10(1 / row["val_mse"]) - 1e-9
        assert 0 < row["val_mse"] < 1
    source = load_checkpoint(trained_classifier)
    trained = load_checkpoint(result.last_checkpoint, expected_kind="hrcam")
    # The classifier is bit-for-bit the one it started from, BatchNorm statistics included.
    for key, value in source.classifier.state_dict().items():
        assert torch.equal(value, trained.classifier.state_dict()[key]), key
    # ... while the expansion network moved away from its (seeded) initialisation.
    seed_everything(0)
    initial = build_expansion(source.classifier, image_size=32).state_dict()
    moved = [
        key
        for key, value in trained.expansion.state_dict().items()
        if value.is_floating_point() and not torch.equal(value, initial[key])
    ]
    assert moved
    assert trained.metadata["class_names"] == source.metadata["class_names"]


def test_expansion_refuses_a_classifier_of_another_store(tiny_store, tmp_path):
    other = build_classifier("densenet_compact", num_classes=5)
    path = save_checkpoint(tmp_path / "five.pt", other, metadata={"image_size": 32})
    with pytest.raises(ValueError, match="5 classes"):
        train_expansion(data_root=tiny_store, run_dir=tmp_path / "exp", classifier_checkpoint=path)


def test_resuming_a_classifier_run_as_expansion_is_refused(trained_classifier, tiny_store):
    with pytest.raises(ValueError, match="not an expansion checkpoint"):
        train_expansion(
            data_root=tiny_store,
            run_dir=trained_classifier.parent,  # holds a classifier's last.pt
            classifier_checkpoint=trained_classifier,
            epochs=1,
            device="cpu",
            progress=False,
        )


def test_cli_trains_and_prints_a_summary(tiny_store, tmp_path, capsys):
    code = cli_main(
        [
            "train",
            "classifier",
            "--data",
            str(tiny_store),
            "--run-dir",
            str(tmp_path / "clf"),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--max-train-batches",
            "2",
            "--max-val-batches",
            "1",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "classifier training on cpu: 1 epoch(s)" in out
    assert "best val_top1=" in out and str(tmp_path / "clf" / "best.pt") in out
    state = torch.load(tmp_path / "clf" / "last.pt", weights_only=True)["extra"]
    assert state["global_step"] == 2  # --max-train-batches honoured
    assert state["config"]["plateau_factor"] == pytest.approx(math.sqrt(0.1))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "classifier", "--data", "/nonexistent/store"], "has no meta.json"),
        (["train", "classifier", "--data", "x", "--epochs", "0"], "epochs must be"),
        (["train", "classifier", "--data", "x", "--device", "tpu"], "device must be"),
        (
            ["train", "expansion", "--data", "x", "--classifier", "/nonexistent.pt"],
            "does not exist",
        ),
    ],
)
def test_cli_errors_are_clear(argv, message, tmp_path, capsys, monkeypatch, tiny_store):
    monkeypatch.chdir(tmp_path)
    argv = [str(tiny_store) if a == "x" else a for a in argv]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hrcam: error:") and message in err
    assert "Traceback" not in err


def test_public_api_takes_overrides(tiny_store, tmp_path):
    result = train_classifier(
        data_root=tiny_store,
        run_dir=tmp_path / "clf",
        epochs=1,
        batch_size=16,
        max_train_batches=1,
        device="cpu",
        progress=False,
        scheduler="none",
        optimizer="sgd",
        lr=0.01,
    )
    assert result.history[0]["lr"] == 0.01 and result.history[0]["global_step"] == 1
    assert result.best_checkpoint.exists() and result.metrics_csv.exists()


def test_consistency_error_is_zero_for_matching_maps_and_one_for_zero_maps():
    from hrcam.models.combined import HRCAMOutput
    from hrcam.train.expansion import consistency_error

    cam = torch.rand(2, 4, 3, 3)
    matching = cam.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)  # pools back to cam
    out = HRCAMOutput(torch.zeros(2, 1), cam, matching, None)
    torch.testing.assert_close(consistency_error(out), torch.zeros(2))
    zero = HRCAMOutput(torch.zeros(2, 1), cam, torch.zeros_like(matching), None)
    torch.testing.assert_close(consistency_error(zero), torch.ones(2))


def test_consistency_training_keeps_the_classifier_frozen_and_pulls_the_pooled_cam(
    trained_classifier, tiny_store, tmp_path
):
    """--consistency-weight W > 0: the classifier stays bit-identical, and the pooled high-res
    CAM ends up closer to the low-res CAM than with the paper's reconstruction-only loss."""
    from hrcam.models import normalize_images
    from hrcam.train.expansion import consistency_error

    runs = {}
    for weight in (0.0, 10.0):
        runs[weight] = train_expansion(
            data_root=tiny_store,
            run_dir=tmp_path / f"exp{weight:g}",
            classifier_checkpoint=trained_classifier,
            epochs=2,
            batch_size=8,
            device="cpu",
            progress=False,
            consistency_weight=weight,
        )
    assert "val_consistency" in runs[10.0].history[-1]
    assert "val_consistency" not in runs[0.0].history[-1]  # W = 0: the paper, unchanged
    source = load_checkpoint(trained_classifier)
    trained = load_checkpoint(runs[10.0].last_checkpoint, expected_kind="hrcam")
    assert trained.metadata["consistency_weight"] == 10.0
    for key, value in source.classifier.state_dict().items():
        assert torch.equal(value, trained.classifier.state_dict()[key]), key
    from hrcam.data import StoreDataset

    x = normalize_images(StoreDataset(tiny_store, "val").get_batch(range(16))["image"])
    errors = {}
    for weight, run in runs.items():
        model = load_checkpoint(run.last_checkpoint).model().eval()
        with torch.no_grad():
            errors[weight] = consistency_error(model(x)).mean().item()
    assert errors[10.0] < 0.5 * errors[0.0]


def test_consistency_weight_is_validated_and_on_the_cli(capsys):
    from hrcam.train import TrainConfig

    with pytest.raises(ValueError, match="consistency_weight"):
        TrainConfig(task="expansion", classifier_checkpoint="c.pt", consistency_weight=-1.0)
    with pytest.raises(ValueError, match="expansion task only"):
        TrainConfig(task="classifier", consistency_weight=1.0)
    with pytest.raises(SystemExit):
        cli_main(["train", "expansion", "--help"])
    assert "--consistency-weight" in capsys.readouterr().out


def test_a_narrower_expansion_network_trains_and_reloads(trained_classifier, tiny_store, tmp_path):
    """--growth-rate/--layers-per-block build (and the checkpoint rebuilds) a smaller network;
    resuming its run with the paper's shape is refused with the reason, nothing overwritten."""
    from hrcam.train import TrainConfig

    run = tmp_path / "narrow"
    args = ["train", "expansion", "--data", str(tiny_store), "--run-dir", str(run),
            "--classifier", str(trained_classifier), "--epochs", "1", "--batch-size", "8",
            "--device", "cpu", "--no-progress"]  # fmt: skip
    assert cli_main([*args, "--growth-rate", "4", "--layers-per-block", "1"]) == 0
    model = load_checkpoint(run / "last.pt").model()
    blocks = [m for m in model.expansion.modules() if type(m).__name__ == "_DenseBlock"]
    assert blocks and all(len(b.layers) == 1 and b.growth_rate == 4 for b in blocks)
    paper = build_expansion(model.classifier, image_size=32)
    assert sum(p.numel() for p in model.expansion.parameters()) < sum(
        p.numel() for p in paper.parameters()
    )
    before = (run / "last.pt").read_bytes()
    with pytest.raises(
        ValueError, match=r"growth_rate=4 then, growth_rate=16 now \(--growth-rate\)"
    ):
        train_expansion(TrainConfig(task="expansion", data_root=tiny_store, run_dir=run,
                                    classifier_checkpoint=trained_classifier, epochs=2,
                                    batch_size=8, device="cpu", progress=False))  # fmt: skip
    assert (run / "last.pt").read_bytes() == before
    for bad in (["--growth-rate", "0"], ["--layers-per-block", "x"]):
        with pytest.raises(SystemExit):
            cli_main([*args, *bad])
    with pytest.raises(ValueError, match="growth_rate applies to the expansion task only"):
        TrainConfig(task="classifier", growth_rate=8)
