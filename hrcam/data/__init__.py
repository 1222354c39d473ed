"""Datasets for hrcam: one memory-mapped store format for every source.

* :mod:`hrcam.data.store` -- the on-disk format, :class:`StoreWriter`, :class:`StoreDataset`.
* :mod:`hrcam.data.synthetic` -- the built-in synthetic "beetles" set with exact masks.
* :mod:`hrcam.data.imagenet` -- the paper's 398 ImageNet animal classes from a local copy.
* :mod:`hrcam.data.torchvision_sets` -- Oxford-IIIT Pet (trimap masks), Imagenette, Imagewoof.
* :mod:`hrcam.data.augment` -- the paper's augmentation, per sample (v2) and batched (GPU).
* :mod:`hrcam.data.imageio` -- robust decoding of any image file.

Importing this package does not import torch.
"""

from hrcam.data.augment import (
    apply_augmentation,
    augment_batch,
    paper_augmentation,
    sample_augmentation_params,
)
from hrcam.data.build import BuildReport, Item, build_store_from_items
from hrcam.data.imageio import ImageDecodeError, decode_image, decode_label_map
from hrcam.data.imagenet import build_imagenet_animals, imagenet_animal_classes
from hrcam.data.store import StoreDataset, StoreInfo, StoreWriter, boxes_from_masks, open_store
from hrcam.data.synthetic import (
    generate_synthetic,
    render_synthetic,
    synthetic_class_specs,
    synthetic_classes,
)
from hrcam.data.torchvision_sets import build_imagenette, build_pets

__all__ = [
    "BuildReport",
    "ImageDecodeError",
    "Item",
    "StoreDataset",
    "StoreInfo",
    "StoreWriter",
    "apply_augmentation",
    "augment_batch",
    "boxes_from_masks",
    "build_imagenet_animals",
    "build_imagenette",
    "build_pets",
    "build_store_from_items",
    "decode_image",
    "decode_label_map",
    "generate_synthetic",
    "imagenet_animal_classes",
    "open_store",
    "paper_augmentation",
    "render_synthetic",
    "sample_augmentation_params",
    "synthetic_class_specs",
    "synthetic_classes",
]
