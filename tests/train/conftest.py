"""Fixtures of the training tests: one compute thread, a tiny synthetic store, the stand-in."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: identical arithmetic in-process and in the subprocesses, and no
    OpenMP spin-waiting when the machine's cores are shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def standin() -> ModuleType:
    """The stand-in task module (tests/train/standin.py), also run as a subprocess script."""
    name = "hrcam_train_tests_standin"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "standin.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    """A 3-class synthetic store at 32 px: 40 training and 16 validation images."""
    from hrcam.data import generate_synthetic

    root = tmp_path_factory.mktemp("train_store") / "store"
    generate_synthetic(root, num_train=40, num_val=16, image_size=32, num_classes=3, num_workers=0)
    return root


@pytest.fixture(scope="session")
def trained_classifier(tiny_store, tmp_path_factory) -> Path:
    """best.pt of a one-epoch classifier run on the tiny store."""
    from hrcam.train import train_classifier

    run_dir = tmp_path_factory.mktemp("train_clf") / "clf"
    result = train_classifier(
        data_root=tiny_store, run_dir=run_dir, epochs=1, batch_size=8, device="cpu", progress=False
    )
    return result.best_checkpoint
