"""Checkpoints: atomic writes, metadata, and loads that are safe (``weights_only=True``).

A checkpoint is one ``torch.save`` file holding a plain dict::

    {"format": "hrcam-checkpoint", "format_version": 1,
     "metadata": {"kind", "arch", "num_classes", "k", "image_size", "class_names",
                  "hrcam_version", "classifier_config", "expansion_config", ...},
     "classifier": state_dict, "expansion": state_dict | None, "extra": dict}

Everything in it is a tensor, number, string, ``None`` or a list/tuple/dict of those, so it loads
with ``torch.load(weights_only=True)``: opening a checkpoint never runs pickled code.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrcam._version import __version__
from hrcam.atomic import atomic_write
from hrcam.models.classifier import CAMClassifier, build_classifier
from hrcam.models.combined import HRCAM
from hrcam.models.expansion import ExpansionNetwork, build_expansion
from hrcam.models.fingerprint import classifier_fingerprint
from hrcam.models.state_dicts import differences_text, state_dict_differences

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_FORMAT_VERSION",
    "Checkpoint",
    "CheckpointError",
    "NoExpansionError",
    "atomic_torch_save",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "hrcam-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
_MODEL_KEYS = ("kind", "arch", "num_classes", "k", "hrcam_version")


class CheckpointError(ValueError):
    """A checkpoint cannot be used: damaged, not an hrcam checkpoint, or the wrong model."""


class NoExpansionError(CheckpointError):
    """The checkpoint holds only a classifier where an expansion network is needed."""


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    path
        File it was read from.
    metadata
        ``kind`` ("classifier" or "hrcam"), ``arch``, ``num_classes``, ``k``, ``image_size``,
        ``class_names``, ``hrcam_version``, builder configs and whatever the saver added.
    classifier
        The rebuilt classifier, in eval mode.
    expansion
        The rebuilt expansion network (eval mode), or ``None`` for a classifier checkpoint.
    extra
        Training state stored by the saver (optimiser, scheduler, RNG, epoch ...).
    """

    path: Path
    metadata: dict[str, Any]
    classifier: CAMClassifier
    expansion: ExpansionNetwork | None
    extra: dict[str, Any] = field(default_factory=dict)

    def model(self) -> HRCAM:
        """Build the :class:`HRCAM` model (frozen classifier + expansion network)."""
        if self.expansion is None:
            raise NoExpansionError(
                f"{self.path} holds only a classifier (kind 'classifier'); an expansion network "
                "must be trained first"
            )
        return HRCAM(self.classifier, self.expansion)


def _check_plain(obj: Any, where: str) -> None:
    """Raise ``ValueError`` if ``obj`` holds anything ``weights_only=True`` could not load."""
    if obj is None or isinstance(obj, bool | int | float | str | torch.Tensor):
        return
    if isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if not isinstance(key, str | int):
                raise ValueError(f"{where} has a key of type {type(key).__name__}; use str or int")
            _check_plain(value, f"{where}[{key!r}]")
        return
    raise ValueError(
        f"{where} is a {type(obj).__module__}.{type(obj).__name__}, which a weights_only load "
        "cannot read; store tensors, numbers, strings, None, lists or dicts "
        "(e.g. torch.as_tensor(array) or array.tolist())"
    )


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace`` it into place.

    A crash mid-write leaves the previous file intact instead of a truncated one.

    Returns
    -------
    Path
        ``path``.
    """
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "_orig_mod", model)  # torch.compile wrapper


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def save_checkpoint(
    path: str | os.PathLike,
    model: CAMClassifier | HRCAM,
    *,
    metadata: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a classifier or :class:`HRCAM` checkpoint atomically.

    Parameters
    ----------
    path
        Destination file (parents are created).
    model
        A :class:`CAMClassifier` or :class:`HRCAM` (``torch.compile`` wrappers are unwrapped).
    metadata
        At least what the model cannot tell: ``image_size`` and ``class_names`` (both may be
        omitted or ``None``); ``arch``, ``num_classes``, ``k`` are taken from the model and, if
        given, must agree with it; ``classifier_fingerprint`` is always the classifier's
        :func:`~hrcam.models.fingerprint.classifier_fingerprint`. Other plain values are stored
        as they are.
    extra
        Training state (optimiser / scheduler ``state_dict()``, RNG states, epoch ...): only
        tensors, numbers, strings, ``None``, lists and dicts.

    Returns
    -------
    Path
        ``path``.
    """
    model = _unwrap(model)
    if isinstance(model, HRCAM):
        classifier, expansion = _unwrap(model.classifier), _unwrap(model.expansion)
    elif isinstance(model, CAMClassifier):
        classifier, expansion = model, None
    else:
        raise ValueError(f"model must be a CAMClassifier or HRCAM, got {type(model).__name__}")
    if not classifier.config.get("arch"):
        raise ValueError("the classifier was not made by build_classifier; its arch is unknown")
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")

    derived: dict[str, Any] = {
        "kind": "hrcam" if expansion is not None else "classifier",
        "arch": classifier.config["arch"],
        "num_classes": classifier.num_classes,
        "k": classifier.k,
        "hrcam_version": __version__,
        # Which classifier this is (or the expansion network was trained for): a learned map
        # loaded for another classifier can then be refused by name.
        "classifier_fingerprint": classifier_fingerprint(classifier),
    }
    for key in ("arch", "num_classes", "k"):
        if key in metadata and metadata[key] != derived[key]:
            raise ValueError(
                f"metadata[{key!r}]={metadata[key]!r} contradicts the model's {derived[key]!r}"
            )
    meta: dict[str, Any] = {"image_size": None, "class_names": None, **metadata, **derived}
    if expansion is not None:
        built_for = expansion.config.get("image_size")
        if meta["image_size"] is None:
            meta["image_size"] = built_for
        elif built_for is not None and meta["image_size"] != built_for:
            raise ValueError(
                f"metadata['image_size']={meta['image_size']!r} contradicts the expansion "
                f"network, built for {built_for!r} px inputs"
            )
    if meta["class_names"] is None:  # a wrapped model carries its own (ImageNet's)
        meta["class_names"] = classifier.config.get("class_names")
    names = meta["class_names"]
    if names is not None:
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise ValueError("metadata['class_names'] must be a list of strings")
        if len(names) != classifier.num_classes:
            raise ValueError(
                f"metadata['class_names'] has {len(names)} names, the classifier "
                f"{classifier.num_classes} classes"
            )
        meta["class_names"] = list(names)
    meta["classifier_config"] = dict(classifier.config)
    meta["expansion_config"] = dict(expansion.config) if expansion is not None else None
    extra = dict(extra or {})
    _check_plain(meta, "metadata")
    _check_plain(extra, "extra")

    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "metadata": meta,
        "classifier": _cpu_state(classifier),
        "expansion": _cpu_state(expansion) if expansion is not None else None,
        "extra": extra,
    }
    return atomic_torch_save(payload, path)


def _check_device(map_location: Any) -> None:
    """Refuse a device this machine lacks before reading, so the file is not blamed for it."""
    if not isinstance(map_location, str | torch.device):
        return  # a mapping or a callable: torch.load's business
    try:
        device = torch.device(map_location)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"unknown device {str(map_location)!r}; use 'cpu', 'cuda' or 'cuda:N'"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {str(map_location)!r} was asked for but CUDA is not available on this "
            "machine; use --device cpu"
        )
    if device.type not in ("cpu", "cuda", "meta"):
        raise ValueError(f"device {str(map_location)!r} is not supported; use 'cpu' or 'cuda'")


def _read_payload(path: Path, map_location: Any) -> dict[str, Any]:
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a folder; give the .pt file in it")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    _check_device(map_location)
    try:
        with warnings.catch_warnings():
            # e.g. "Detected pickle protocol 4 in the checkpoint": the error below says more
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "GLOBAL" in text:
            # A pickle that names Python objects. torch's message suggests weights_only=False,
            # which would run them: never repeat that advice.
            raise CheckpointError(
                f"{path}: refused: the file ({path.stat().st_size} bytes) holds pickled Python "
                "objects other than tensors and plain data, so loading it could run code. "
                "hrcam never writes such files: it is not an hrcam checkpoint, or it was "
                "altered. Use a checkpoint written by hrcam"
            ) from None
        if "weights only load failed" in text.lower():
            # Keep torch's specific reason (e.g. "Unsupported operand 241"), not its advice.
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            exc = RuntimeError(
                next(
                    (ln for ln in lines[1:] if "weights_only" not in ln and "torch.load" not in ln),
                    "not a torch.save archive",
                )
            )
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: expected an hrcam checkpoint (a torch.save zip archive), found a damaged, "
            f"truncated or foreign file of {path.stat().st_size} bytes ({reason})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        if isinstance(payload, dict):
            keys = sorted(map(str, payload))[:6]
            found = f"a dict with keys {keys}" + (
                " (a bare state dict? pass it to build_classifier(weights=...))"
                if payload and all(isinstance(v, torch.Tensor) for v in payload.values())
                else ""
            )
        else:
            found = f"a {type(payload).__name__}"
        raise CheckpointError(
            f"{path}: expected an hrcam checkpoint (format {CHECKPOINT_FORMAT!r}), found {found}"
        )
    version = payload.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not a version (a positive "
            "integer); the file is damaged or was not written by hrcam"
        )
    if version > CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: expected checkpoint format version <= {CHECKPOINT_FORMAT_VERSION}, found "
            f"{version!r}; upgrade hrcam"
        )
    missing = [k for k in ("metadata", "classifier", "expansion") if k not in payload]
    meta = payload.get("metadata")
    if not missing and isinstance(meta, dict):
        missing = [f"metadata.{k}" for k in (*_MODEL_KEYS, "classifier_config") if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: checkpoint is incomplete, missing {missing}")
    _check_metadata(path, meta, payload)
    return payload


_KINDS = ("classifier", "hrcam")


def _check_metadata(path: Path, meta: dict[str, Any], payload: dict[str, Any]) -> None:
    """Refuse metadata that contradicts itself: an unknown kind, class names of another count."""
    kind = meta["kind"]
    if kind not in _KINDS:
        raise CheckpointError(f"{path}: metadata.kind is {kind!r}, not one of {list(_KINDS)}")
    if (kind == "hrcam") != (payload["expansion"] is not None):
        has = "has" if payload["expansion"] is not None else "has no"
        raise CheckpointError(f"{path}: metadata.kind is {kind!r} but the file {has} expansion")
    n, names = meta["num_classes"], meta.get("class_names")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise CheckpointError(f"{path}: metadata.num_classes is {n!r}, not a positive integer")
    if names is not None and (
        not isinstance(names, list | tuple)
        or len(names) != n
        or not all(isinstance(c, str) for c in names)
    ):
        count = len(names) if isinstance(names, list | tuple) else type(names).__name__
        raise CheckpointError(
            f"{path}: metadata.class_names ({count}) is not a list of {n} strings, one per class"
        )


def read_extra(path: str | os.PathLike) -> dict[str, Any]:
    """Return a checkpoint's ``extra`` payload without building or loading any model.

    When a resume's weight load fails, it checks the saved training settings with this, so
    that a changed setting (``--growth-rate``) is named instead of a weight-shape mismatch.
    """
    return dict(_read_payload(Path(path), "cpu").get("extra") or {})


def _load_state(module: nn.Module, state: Any, path: Path, what: str) -> None:
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: expected a state dict for the {what}, found {type(state)}")
    differences = state_dict_differences(module.state_dict(), state)
    if any(differences):
        raise CheckpointError(
            f"{path}: the {what} weights do not fit the rebuilt model: "
            + differences_text(*differences)
        )
    module.load_state_dict(state)


def load_checkpoint(
    path: str | os.PathLike,
    expected_arch: str | None = None,
    map_location: str | torch.device = "cpu",
    expected_kind: str | None = None,
    classifier: CAMClassifier | None = None,
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` and rebuild its models.

    Parameters
    ----------
    path
        Checkpoint file.
    expected_arch
        If given, the architecture the caller needs; another one raises :class:`CheckpointError`.
    map_location
        Device the tensors and rebuilt models end up on.
    expected_kind
        ``"classifier"`` or ``"hrcam"`` if the caller needs one of them.
    classifier
        For a checkpoint of your own module wrapped with :func:`hrcam.models.wrap_classifier`
        (which hrcam cannot rebuild by name): that wrapped module again; the checkpoint's
        weights are loaded into it.

    Returns
    -------
    Checkpoint

    Raises
    ------
    FileNotFoundError
        No such file.
    CheckpointError
        Damaged/truncated/foreign file, newer format, or another architecture/kind than
        expected; the message names what was expected and what was found.
    """
    path = Path(path)
    payload = _read_payload(path, map_location)
    meta = dict(payload["metadata"])
    built_for = (meta.get("expansion_config") or {}).get("image_size")
    if payload["expansion"] is not None and built_for is not None:
        # Checkpoints of hrcam <= 0.x could record the classifier's size here; the expansion
        # network's own input size is the one explaining needs.
        meta["image_size"] = built_for
    if expected_arch is not None and meta["arch"] != expected_arch:
        raise CheckpointError(
            f"{path}: expected architecture {expected_arch!r}, found {meta['arch']!r}"
        )
    if expected_kind is not None and meta["kind"] != expected_kind:
        raise CheckpointError(
            f"{path}: expected a {expected_kind!r} checkpoint, found {meta['kind']!r}"
        )
    clf_config = meta["classifier_config"]
    try:
        if classifier is not None:  # a user's own wrapped module, given back to load into
            pass
        elif isinstance(clf_config, Mapping) and "zoo" in clf_config:
            from hrcam.models.wrap import rebuild_wrapped  # a wrapped timm/torchvision model

            classifier = rebuild_wrapped(dict(clf_config))
        else:
            classifier = build_classifier(**clf_config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the classifier: {exc}") from exc
    _load_state(classifier, payload["classifier"], path, "classifier")
    expansion = None
    if payload["expansion"] is not None:
        config = meta.get("expansion_config") or {}
        try:
            expansion = build_expansion(classifier, **config)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot rebuild the expansion network: {exc}") from exc
        _load_state(expansion, payload["expansion"], path, "expansion network")
        expansion.to(map_location).eval()
    classifier.to(map_location).eval()
    return Checkpoint(path, meta, classifier, expansion, dict(payload.get("extra") or {}))
