"""Learned maps that ship with hrcam, each with a model card (``hrcam/weights/``).

The book's natural-image chapters measure the paper's expansion network and FeatUp's learned
JBU for EfficientNet-Lite0 (:func:`hrcam.models.lite0.efficientnet_lite0`) with the longest-
trained weights these files hold, instead of the few steps a chapter can afford to train.
Each ``NAME.pt`` holds the learned part only (float16; the expansion network's basis is
recomputed from the classifier's FC weights, exactly) and ``NAME.card.json`` beside it says
how it was made: the training command, the data, images seen, time and machine, the learning
curve, the classifier's :func:`~hrcam.models.fingerprint.classifier_fingerprint` and the
file's sha256. :func:`load_shipped` checks all of it before returning a model.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrcam.atomic import atomic_write_text
from hrcam.errors import HrcamError
from hrcam.models.fingerprint import classifier_fingerprint

__all__ = [
    "IDENTITY_FIELDS",
    "SHIPPED_FORMAT",
    "ShippedWeightsError",
    "export_shipped",
    "file_sha256",
    "load_shipped",
    "read_card",
    "shipped_names",
    "update_card",
    "weights_dir",
]

SHIPPED_FORMAT = "hrcam-shipped-weights"
_KINDS = ("expansion", "upsampler")


class ShippedWeightsError(HrcamError):
    """A shipped weights file that is missing, altered, or meant for another classifier."""


def weights_dir() -> Path:
    """Return the folder of the shipped weights and their cards (inside the package)."""
    return Path(__file__).resolve().parent.parent / "weights"


def shipped_names(folder: str | os.PathLike | None = None) -> list[str]:
    """Names of the shipped weights (each has ``NAME.pt`` and ``NAME.card.json``)."""
    root = Path(folder) if folder is not None else weights_dir()
    return sorted(p.name[: -len(".card.json")] for p in root.glob("*.card.json"))


def file_sha256(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def read_card(name: str, folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read the model card of shipped weights ``name``.

    Raises
    ------
    ShippedWeightsError
        No such card (the message lists the shipped names).
    """
    root = Path(folder) if folder is not None else weights_dir()
    path = root / f"{name}.card.json"
    if not path.is_file():
        raise ShippedWeightsError(
            f"no shipped weights named {name!r} in {root}; shipped: "
            f"{', '.join(shipped_names(root)) or 'none'}"
        )
    return json.loads(path.read_text())


def export_shipped(
    model: nn.Module,
    kind: str,
    classifier: nn.Module,
    name: str,
    card: Mapping[str, Any],
    folder: str | os.PathLike | None = None,
) -> Path:
    """Write ``model`` (an expansion network or JBU upsampler) as shipped weights with a card.

    Parameters
    ----------
    model
        The learned part: :class:`~hrcam.models.expansion.ExpansionNetwork` (``kind
        "expansion"``) or :class:`~hrcam.models.jbu.JBUUpsampler` (``"upsampler"``).
    classifier
        The classifier it was trained for (its fingerprint goes into the file and the card).
    name
        File stem.
    card
        What the card says besides what this function fills in (``sha256``, ``kind``,
        ``classifier_fingerprint``, ``shapes``, ``parameters``): the training command, data,
        images seen, time, machine, learning curve.

    Returns
    -------
    pathlib.Path
        The weights file.
    """
    from hrcam.models.checkpoint import atomic_torch_save

    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    root = Path(folder) if folder is not None else weights_dir()
    root.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, value in model.state_dict().items():
        if key == "cam_basis":  # recomputed exactly from the classifier's FC weights
            continue
        value = value.detach().cpu()
        state[key] = value.half() if value.is_floating_point() else value
    fingerprint = classifier_fingerprint(classifier)
    payload = {
        "format": SHIPPED_FORMAT,
        "kind": kind,
        "config": dict(model.config),
        "classifier_fingerprint": fingerprint,
        "state": state,
    }
    path = atomic_torch_save(payload, root / f"{name}.pt")
    full = {
        **dict(card),
        "name": name,
        "kind": kind,
        "file": path.name,
        "sha256": file_sha256(path),
        "classifier_fingerprint": fingerprint,
        "parameters": int(sum(v.numel() for v in state.values())),
        "shapes": {k: list(v.shape) for k, v in state.items()},
        "config": dict(model.config),
    }
    _write_card(root / f"{name}.card.json", full)
    return path


#: What a card says about its weights file: measured from the file when it is exported, never
#: edited afterwards (a test checks each against the file).
IDENTITY_FIELDS = frozenset(
    {"name", "kind", "file", "sha256", "classifier_fingerprint", "parameters", "shapes", "config"}
)


def update_card(
    name: str, changes: Mapping[str, Any], folder: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Rewrite measurements on the card of shipped weights ``name`` (atomically).

    For what is measured after the weights ship, such as more training seeds; the fields that
    describe the file itself (:data:`IDENTITY_FIELDS`) are refused.

    Returns
    -------
    dict
        The card as written.

    Raises
    ------
    ShippedWeightsError
        No such card, or ``changes`` names an identity field.
    """
    refused = sorted(IDENTITY_FIELDS & set(changes))
    if refused:
        raise ShippedWeightsError(
            f"{', '.join(refused)} describe the weights file of {name!r} and come from it: "
            "export the weights again (export_shipped) instead of editing its card"
        )
    card = {**read_card(name, folder), **changes}
    root = Path(folder) if folder is not None else weights_dir()
    _write_card(root / f"{name}.card.json", card)
    return card


def _write_card(path: Path, card: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(card, indent=1, sort_keys=True) + "\n")


def load_shipped(
    name: str, classifier: nn.Module, folder: str | os.PathLike | None = None
) -> nn.Module:
    """Rebuild shipped weights ``name`` for ``classifier`` after checking them against the card.

    Returns the :class:`~hrcam.models.HRCAM` of ``classifier`` and the expansion network for
    kind ``"expansion"``, the trained :class:`~hrcam.models.jbu.JBUUpsampler` for
    ``"upsampler"`` (attach it with :func:`hrcam.models.jbu.with_upsampler`).

    Raises
    ------
    ShippedWeightsError
        The file's sha256 differs from the card's, or ``classifier`` is not the one the
        weights were trained for (fingerprints differ), or the file is not shipped weights.
    """
    root = Path(folder) if folder is not None else weights_dir()
    card = read_card(name, root)
    path = root / card["file"]
    if not path.is_file() or file_sha256(path) != card["sha256"]:
        raise ShippedWeightsError(
            f"{path} is missing or differs from its card ({card['sha256'][:23]}...): restore "
            "it from the repository (git checkout -- hrcam/weights)"
        )
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != SHIPPED_FORMAT:
        raise ShippedWeightsError(f"{path} is not a shipped hrcam weights file")
    actual = classifier_fingerprint(classifier)
    if payload["classifier_fingerprint"] != actual:
        raise ShippedWeightsError(
            f"{name} was trained for the classifier {payload['classifier_fingerprint'][:23]}, "
            f"not for this one ({actual[:23]}); train one for it instead"
        )
    param = next(classifier.parameters())
    if payload["kind"] == "expansion":
        from hrcam.models.combined import HRCAM
        from hrcam.models.expansion import build_expansion

        network = build_expansion(classifier, **payload["config"])
        _load_half(network, payload["state"], path)
        return HRCAM(classifier, network.to(device=param.device, dtype=param.dtype)).eval()
    from hrcam.models.jbu import JBUUpsampler

    upsampler = JBUUpsampler(payload["config"]["stages"], payload["config"])
    _load_half(upsampler, payload["state"], path)
    upsampler.checkpoint = str(path)
    upsampler.trained_for = "shipped: " + name
    return upsampler.to(param.device).eval()


def _load_half(module: nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Load a float16 state into ``module``'s own dtypes (its ``cam_basis`` is kept)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state) - {"cam_basis"})
    if missing or set(state) - set(own):
        raise ShippedWeightsError(f"{path} does not fit this hrcam's network ({missing[:3]})")
    merged = {k: (state[k].to(v.dtype) if k in state else v) for k, v in own.items()}
    module.load_state_dict(merged)
