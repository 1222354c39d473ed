"""Models of the paper's §3.1–3.2: CAM classifier, expansion network, CAMs and checkpoints.

>>> from hrcam.models import build_classifier, build_expansion, HRCAM
>>> clf = build_classifier("densenet_compact", num_classes=4)
>>> model = HRCAM(clf, build_expansion(clf, image_size=64))
"""

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader), so that importing
# the package imports none of its modules.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs=public_names(
        __file__,
        [
            "backbones",
            "cams",
            "checkpoint",
            "classifier",
            "combined",
            "expansion",
            "preprocess",
            "wrap",
        ],
    ),
)
