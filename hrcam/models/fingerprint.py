"""The identity of a classifier's weights: one hash that any copy of the same weights shares.

>>> classifier_fingerprint(model.classifier)  # doctest: +SKIP
'sha256:3f1c...'

A learned map trained for one classifier (a learned upsampler, an expansion network) is only
valid for that classifier; checkpoints record this fingerprint so that loading one for another
classifier can be refused by name instead of producing wrong maps without a word.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

__all__ = ["FINGERPRINT_PREFIX", "classifier_fingerprint"]

FINGERPRINT_PREFIX = "sha256:"
"""Every fingerprint starts with the name of its hash, so another hash could follow later."""


def _unwrap(module: nn.Module) -> nn.Module:
    """Return the module itself, not a ``torch.compile`` or DDP wrapper (keys prefixed)."""
    while True:
        inner = getattr(module, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(module, "module", None)
        if not isinstance(inner, nn.Module):
            return module
        module = inner


def classifier_fingerprint(model: nn.Module) -> str:
    """Return the SHA-256 fingerprint of a classifier's weights.

    The hash runs over the module's ``state_dict()`` in sorted key order; for every tensor it
    takes, in turn, the key's name, the dtype, the shape and the raw bytes of its values (C
    order). It therefore depends only on what a checkpoint stores: not on the device the
    weights sit on, their memory layout (``channels_last``), ``torch.compile`` or DDP
    wrappers, or non-persistent buffers (which ``state_dict`` leaves out). Two classifiers
    share a fingerprint exactly when their checkpoints would hold the same tensors.

    Parameters
    ----------
    model
        The classifier (any ``nn.Module``; for an :class:`~hrcam.models.HRCAM`, pass its
        ``classifier``).

    Returns
    -------
    str
        ``"sha256:"`` followed by 64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    state = _unwrap(model).state_dict()
    for name in sorted(state):
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor):  # extra state of a custom module
            digest.update(f"{name}\0{tensor!r}\0".encode())
            continue
        values = tensor.detach().to("cpu").contiguous()
        header = f"{name}\0{str(values.dtype).removeprefix('torch.')}\0{tuple(values.shape)}\0"
        digest.update(header.encode())
        # Raw bytes through a uint8 view: works for every dtype, bfloat16 included, which
        # numpy cannot hold.
        digest.update(values.reshape(-1).view(torch.uint8).numpy().tobytes())
    return FINGERPRINT_PREFIX + digest.hexdigest()
