"""Shared pytest configuration, and the tiny HRCAM run the evaluate and evidence tests share."""

import os

import pytest

# The CI machine has 2 cores; keep BLAS/OpenMP from oversubscribing them.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

TINY_SIZE = 32
TINY_CLASSES = 3


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(checkpoint path, store path): densenet_compact at 32 px, 3 classes, 8 val images."""
    import torch

    from hrcam.data.synthetic import generate_synthetic, synthetic_classes
    from hrcam.models import HRCAM, build_classifier, build_expansion, save_checkpoint

    root = tmp_path_factory.mktemp("tiny_run")
    store = root / "store"
    generate_synthetic(
        store, num_train=3, num_val=8, image_size=TINY_SIZE, seed=0, num_classes=TINY_CLASSES,
        num_workers=0,
    )  # fmt: skip
    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=TINY_CLASSES)
    model = HRCAM(clf, build_expansion(clf, image_size=TINY_SIZE)).eval()
    ckpt = save_checkpoint(
        root / "hrcam.pt",
        model,
        metadata={"image_size": TINY_SIZE, "class_names": synthetic_classes(TINY_CLASSES)},
    )
    return ckpt, store
