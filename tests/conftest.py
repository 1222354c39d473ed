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


# Four reviewed stamps with an ImageNet class and one without (hrcam/resources/tuxpaint_stamps.tsv).
CUTOUT_CLASSED = (
    "animals/birds/hen.png",
    "animals/birds/tucan.png",
    "animals/insects/mantis.png",
    "animals/mammals/apes/gorilla.png",
)
CUTOUT_UNCLASSED = ("animals/mammals/giraffe.png",)


def _fixture_stamp(path, seed):
    """An RGBA stamp: an ellipse with a soft (8-bit) alpha ramp and a random texture."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = 40 + 7 * seed, 30 + 5 * seed
    yy, xx = np.mgrid[:h, :w]
    r = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
    alpha = np.clip((1.0 - r) * 4.0, 0, 1) * 255
    rgb = rng.integers(0, 256, (h, w, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA").save(path)


def _cutout_sources(root):
    """Write a tiny stamps tree (reviewed paths) and four background photos under ``root``."""
    import numpy as np
    from PIL import Image

    stamps, backs = root / "stamps", root / "backgrounds"
    for i, rel in enumerate(CUTOUT_CLASSED + CUTOUT_UNCLASSED):
        _fixture_stamp(stamps / rel, i)
    backs.mkdir(parents=True)
    rng = np.random.default_rng(9)
    for i in range(4):
        img = rng.integers(0, 256, (80 + 10 * i, 120, 3)).astype(np.uint8)
        Image.fromarray(img).save(backs / f"photo{i}.jpg")
    return stamps, backs


@pytest.fixture
def cutout_sources(tmp_path):
    """(stamps folder, backgrounds folder): a fixture tree for the cut-out builder."""
    return _cutout_sources(tmp_path / "cutout_sources")


@pytest.fixture(scope="session")
def shared_cutout_sources(tmp_path_factory):
    """The same tree, once per session, for tests that only read it (the smoke book)."""
    return _cutout_sources(tmp_path_factory.mktemp("cutout_sources"))


@pytest.fixture(scope="session")
def minmax():
    """Min-max each map to [0, 1] over its last two axes (a constant map gives 0s).

    Written here, independently of hrcam's own normalisation, so that the method tests
    compare hrcam's maps with a rule they do not share code with.
    """
    import numpy as np

    def scale(a: np.ndarray) -> np.ndarray:
        lo = a.min(axis=(-2, -1), keepdims=True)
        span = a.max(axis=(-2, -1), keepdims=True) - lo
        return np.divide(a - lo, span, out=np.zeros_like(a), where=span > 0)

    return scale
