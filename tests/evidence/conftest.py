"""A tiny untrained HRCAM checkpoint and a synthetic store (as in tests/evaluate)."""

from __future__ import annotations

import pytest

SIZE = 32
NUM_CLASSES = 3


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(checkpoint path, store path): densenet_compact at 32 px, 3 classes, 8 val images."""
    import torch

    from hrcam.data.synthetic import generate_synthetic, synthetic_classes
    from hrcam.models import HRCAM, build_classifier, build_expansion, save_checkpoint

    root = tmp_path_factory.mktemp("tiny_run")
    store = root / "store"
    generate_synthetic(
        store, num_train=3, num_val=8, image_size=SIZE, seed=0, num_classes=NUM_CLASSES,
        num_workers=0,
    )  # fmt: skip
    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=NUM_CLASSES)
    model = HRCAM(clf, build_expansion(clf, image_size=SIZE)).eval()
    ckpt = save_checkpoint(
        root / "hrcam.pt",
        model,
        metadata={"image_size": SIZE, "class_names": synthetic_classes(NUM_CLASSES)},
    )
    return ckpt, store
