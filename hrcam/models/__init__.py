"""Models of the paper's §3.1–3.2: CAM classifier, expansion network, CAMs and checkpoints.

>>> from hrcam.models import build_classifier, build_expansion, HRCAM
>>> clf = build_classifier("densenet_compact", num_classes=4)
>>> model = HRCAM(clf, build_expansion(clf, image_size=64))
"""

from hrcam.models.backbones import ARCHITECTURES, COMPACT_DENSENET, ArchSpec, build_backbone
from hrcam.models.cams import class_activation_map, high_res_cam, low_res_cam, predicted_classes
from hrcam.models.checkpoint import (
    Checkpoint,
    CheckpointError,
    atomic_torch_save,
    load_checkpoint,
    save_checkpoint,
)
from hrcam.models.classifier import CAMClassifier, ClassifierOutput, build_classifier, check_images
from hrcam.models.combined import HRCAM, HRCAMOutput, freeze, with_expansion_dtype
from hrcam.models.expansion import (
    ExpansionNetwork,
    ExpansionOutput,
    InferenceBuffers,
    build_expansion,
)
from hrcam.models.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    denormalize_images,
    input_stats,
    normalize_images,
)
from hrcam.models.wrap import (
    WrappedClassifier,
    build_wrapped,
    imagenet_animal_indices,
    imagenet_class_names,
    wrap_classifier,
)

__all__ = [
    "ARCHITECTURES",
    "COMPACT_DENSENET",
    "HRCAM",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ArchSpec",
    "CAMClassifier",
    "Checkpoint",
    "CheckpointError",
    "ClassifierOutput",
    "ExpansionNetwork",
    "ExpansionOutput",
    "HRCAMOutput",
    "InferenceBuffers",
    "WrappedClassifier",
    "atomic_torch_save",
    "build_backbone",
    "build_classifier",
    "build_expansion",
    "build_wrapped",
    "check_images",
    "class_activation_map",
    "denormalize_images",
    "freeze",
    "high_res_cam",
    "imagenet_animal_indices",
    "imagenet_class_names",
    "input_stats",
    "load_checkpoint",
    "low_res_cam",
    "normalize_images",
    "predicted_classes",
    "save_checkpoint",
    "with_expansion_dtype",
    "wrap_classifier",
]
