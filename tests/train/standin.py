"""A tiny stand-in task for the generic engine: a small conv net on random uint8 images.

Used in-process by the tests and as a subprocess script (bit-exact resume after SIGKILL, and
2-process DDP under ``torch.distributed.run``)::

    python tests/train/standin.py --run-dir DIR --out weights.pt [--epochs N] ...
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from hrcam.train import TrainResult, TrainTask, fit
from hrcam.train.config import TrainConfig


class TinyNet(nn.Module):
    """Conv -> BN -> ReLU -> GAP -> dropout -> FC; dropout makes the global RNG matter."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))
        return self.fc(self.drop(x))


class StandInTask(TrainTask):
    """Cross-entropy on :class:`TinyNet`, with a random flip drawn from the engine's
    augmentation generator, checkpointed with a plain atomic ``torch.save``."""

    name = "classifier"
    monitor = "val_top1"
    monitor_mode = "max"

    def preprocess(self, images, train, generator):
        x = images.float() / 255.0
        if train:
            flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x

    def loss(self, output, inputs, labels):
        return F.cross_entropy(output.float(), labels)

    def eval_sums(self, output, inputs, labels):
        logits = output.float()
        return {
            "loss": F.cross_entropy(logits, labels, reduction="sum").double(),
            "top1": (logits.argmax(1) == labels).sum().double(),
        }

    def save(self, path: Path, extra: dict[str, Any]) -> None:
        tmp = Path(str(path) + ".tmp")
        torch.save({"state_dict": self.model.state_dict(), "extra": extra}, tmp)
        os.replace(tmp, path)

    def load(self, path: Path) -> dict[str, Any]:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
        self.model.load_state_dict(checkpoint["state_dict"])
        return checkpoint["extra"]


def make_data(n: int, seed: int, size: int = 16) -> TensorDataset:
    """Noise images whose label is which of the red and green channels is brightened."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    images = torch.randint(0, 200, (n, 3, size, size), generator=g, dtype=torch.int64)
    images[torch.arange(n), labels] += 40
    return TensorDataset(images.to(torch.uint8), labels)


def config(run_dir: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """The stand-in's :class:`TrainConfig` (3 epochs of batches of 8 on the CPU), with
    ``overrides`` on top: the one builder of the tests and of :func:`main`."""
    values: dict[str, Any] = dict(
        task="classifier",
        data_root="unused",
        run_dir=run_dir,
        epochs=3,
        batch_size=8,
        device="cpu",
        progress=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


def run(
    config: TrainConfig, num_train: int = 96, num_val: int = 32
) -> tuple[TrainResult, nn.Module]:
    """Build the stand-in model (seeded) and fit it."""
    torch.manual_seed(config.seed)
    model = TinyNet()
    task = StandInTask(model)
    result = fit(task, make_data(num_train, 1), make_data(num_val, 2), config)
    return result, model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--out", required=True, help="final weights; {rank} is substituted")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # same arithmetic in every subprocess
    result, model = run(
        config(
            args.run_dir,
            epochs=args.epochs,
            batch_size=args.batch_size,
            checkpoint_every=args.checkpoint_every,
            seed=args.seed,
            plateau_patience=0,  # exercise the scheduler's state within a few epochs
        )
    )
    rank = int(os.environ.get("RANK", "0"))
    torch.save(
        {"state_dict": model.state_dict(), "history": result.history},
        args.out.format(rank=rank),
    )


if __name__ == "__main__":
    main()
