"""Models of the paper's §3.1–3.2: CAM classifier, expansion network, CAMs and checkpoints.

>>> from hrcam.models import build_classifier, build_expansion, HRCAM
>>> clf = build_classifier("densenet_compact", num_classes=4)
>>> model = HRCAM(clf, build_expansion(clf, image_size=64))
"""

import lazy_loader

# Names load from their submodule on first use (scikit-image's lazy_loader), so that importing
# the package imports none of its modules.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "backbones": ["ARCHITECTURES", "ArchSpec", "build_backbone", "COMPACT_DENSENET"],
        "cams": ["class_activation_map", "high_res_cam", "low_res_cam", "predicted_classes"],
        "checkpoint": [
            "atomic_torch_save",
            "Checkpoint",
            "CheckpointError",
            "load_checkpoint",
            "save_checkpoint",
        ],
        "classifier": ["build_classifier", "CAMClassifier", "check_images", "ClassifierOutput"],
        "combined": ["freeze", "HRCAM", "HRCAMOutput", "with_expansion_dtype"],
        "expansion": [
            "build_expansion",
            "ExpansionNetwork",
            "ExpansionOutput",
            "InferenceBuffers",
        ],
        "preprocess": [
            "denormalize_images",
            "IMAGENET_MEAN",
            "IMAGENET_STD",
            "input_stats",
            "normalize_images",
        ],
        "wrap": [
            "build_wrapped",
            "imagenet_animal_indices",
            "imagenet_class_names",
            "wrap_classifier",
            "WrappedClassifier",
        ],
    },
)
