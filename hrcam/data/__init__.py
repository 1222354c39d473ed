"""Datasets for hrcam: one memory-mapped store format for every source.

* :mod:`hrcam.data.registry` -- every builder by name; :func:`build_dataset` (CLI and book).
* :mod:`hrcam.data.store` -- the on-disk format, :class:`StoreWriter`, :class:`StoreDataset`.
* :mod:`hrcam.data.synthetic` -- the built-in synthetic "beetles" set with exact masks.
* :mod:`hrcam.data.imagenet` -- the paper's 398 ImageNet animal classes from a local copy.
* :mod:`hrcam.data.torchvision_sets` -- Oxford-IIIT Pet (trimap masks), Imagenette, Imagewoof.
* :mod:`hrcam.data.augment` -- the paper's augmentation, per sample (v2) and batched (GPU).
* :mod:`hrcam.data.imageio` -- robust decoding of any image file.

Importing this package does not import torch.
"""

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader): importing
# one submodule, as the CLI's --help does, does not import the others.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs=public_names(
        __file__,
        [
            "augment",
            "build",
            "imageio",
            "imagenet",
            "registry",
            "store",
            "synthetic",
            "torchvision_sets",
        ],
    ),
)
