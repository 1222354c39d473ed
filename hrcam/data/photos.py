"""Natural photos that ship inside installed Python packages, for training offline.

scikit-image, scikit-learn and matplotlib bundle a handful of colour photographs in their
wheels (nothing is downloaded). :func:`build_photo_store` cuts many random crops of some of
them into an hrcam store, on which an expansion network can be trained (its training is
unsupervised: the store's single class label is never used). The photos shown in the book,
:data:`HELD_OUT_PHOTOS`, are never among the training photos.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hrcam.errors import HrcamError

__all__ = [
    "HELD_OUT_PHOTOS",
    "PHOTO_SOURCES",
    "TRAINING_PHOTOS",
    "build_photo_store",
    "load_photo",
    "random_crops",
    "square_photo",
]

#: Where each photo comes from (package and file).
PHOTO_SOURCES = {
    "chelsea": "scikit-image skimage.data.chelsea() (a cat)",
    "coffee": "scikit-image skimage.data.coffee() (a cup of coffee)",
    "astronaut": "scikit-image skimage.data.astronaut() (Eileen Collins, NASA)",
    "rocket": "scikit-image skimage.data.rocket() (a rocket on the launch pad)",
    "china": "scikit-learn load_sample_images(): china.jpg (a temple)",
    "flower": "scikit-learn load_sample_images(): flower.jpg (a flower)",
    "grace_hopper": "matplotlib sample data: grace_hopper.jpg (a portrait)",
    "hubble_deep_field": "scikit-image skimage.data.hubble_deep_field() (galaxies)",
    "immunohistochemistry": "scikit-image skimage.data.immunohistochemistry() (a tissue slide)",
}
#: Shown in the book's figures; never trained on.
HELD_OUT_PHOTOS = ("chelsea", "coffee", "astronaut")
#: Cropped for the expansion network's training store.
TRAINING_PHOTOS = (
    "rocket",
    "china",
    "flower",
    "grace_hopper",
    "hubble_deep_field",
    "immunohistochemistry",
)


def load_photo(name: str) -> np.ndarray:
    """One bundled photo as ``(H, W, 3)`` uint8 RGB (see :data:`PHOTO_SOURCES`)."""
    if name not in PHOTO_SOURCES:
        raise HrcamError(f"unknown photo {name!r}; choose one of {sorted(PHOTO_SOURCES)}")
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_images

        sample = load_sample_images()
        index = [Path(f).stem for f in sample.filenames].index(name)
        image = sample.images[index]
    elif name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as img:
            image = np.asarray(img.convert("RGB"))
    else:
        import skimage.data

        image = getattr(skimage.data, name)()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def square_photo(name: str, size: int = 224) -> np.ndarray:
    """Load a bundled photo, centre-cropped to a square and resized to ``size`` px (uint8 HWC)."""
    from PIL import Image

    image = load_photo(name)
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC))


def random_crops(
    image: np.ndarray, count: int, size: int, rng: np.random.Generator, min_scale: float = 0.25
) -> np.ndarray:
    """Draw ``count`` random square crops as a ``(count, size, size, 3)`` uint8 array.

    Each crop's side is ``min_scale``–1 × the short side (with a random flip); each crop is
    resized to ``size`` px.
    """
    from PIL import Image

    height, width = image.shape[:2]
    short = min(height, width)
    out = np.empty((count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        side = round(short * float(np.sqrt(rng.uniform(min_scale**2, 1.0))))
        side = max(8, min(side, short))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        crop = Image.fromarray(image[top : top + side, left : left + side])
        crop = np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC))
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def build_photo_store(
    root: str | os.PathLike,
    image_size: int = 128,
    train_per_photo: int = 64,
    val_per_photo: int = 8,
    photos: Sequence[str] = TRAINING_PHOTOS,
    seed: int = 0,
) -> Path:
    """Write a store of random crops of bundled photos (one class, ``"photo"``).

    Parameters
    ----------
    root
        Store folder (created; an existing store there is replaced shard by shard).
    image_size
        Side of each crop.
    train_per_photo, val_per_photo
        Crops per photo in each split (validation crops are different random crops of the
        same photos: they measure reconstruction, not generalisation to new photos).
    photos
        Which photos; none of :data:`HELD_OUT_PHOTOS` is allowed.
    seed
        Seed of the crop positions.

    Returns
    -------
    Path
        ``root``.
    """
    from hrcam.data.store import StoreWriter

    shown = sorted(set(photos) & set(HELD_OUT_PHOTOS))
    if shown:
        raise HrcamError(f"photos {shown} are held out for the figures; do not train on them")
    rng = np.random.default_rng(seed)
    writer = StoreWriter(
        root,
        image_size=image_size,
        classes=["photo"],
        has_masks=False,
        source={"kind": "bundled-photos", "photos": list(photos), "seed": seed},
    )
    decoded = [load_photo(p) for p in photos]  # once: both splits crop the same photos
    for split, per in (("train", train_per_photo), ("val", val_per_photo)):
        images = np.concatenate([random_crops(image, per, image_size, rng) for image in decoded])
        order = rng.permutation(len(images))
        writer.write_shard(split, 0, images[order], np.zeros(len(images), dtype=np.int64))
    writer.finalize({"train": 1, "val": 1})
    return Path(root)
