"""Which learned maps a natural-image chapter measures, and the scale every verdict states.

The chapters on natural images (08, 10-13) measure Lite0's expansion network and learned JBU.
A chapter can only afford a few training steps; with the profile's ``learned_maps =
"shipped"`` it measures the longest-trained weights in ``hrcam/weights/`` instead
(:func:`hrcam.models.shipped.load_shipped`, checked against their model cards), and with
``"retrain"`` the chapter's own, freshly trained ones. :func:`measured_expansion` and
:func:`measured_upsampler` make that choice; :func:`scale_text` is the sentence that goes
next to every verdict: images scored, independent units, images each learned map has seen,
and its validation quality.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "LEARNED_MAPS",
    "SHIPPED_EXPANSION",
    "SHIPPED_UPSAMPLER",
    "checkpoint_facts",
    "facts_of_checkpoint",
    "facts_of_upsampler",
    "measured_expansion",
    "measured_upsampler",
    "scale_text",
    "upsampler_facts",
]

LEARNED_MAPS = ("shipped", "retrain")
SHIPPED_EXPANSION = "lite0_expansion"
SHIPPED_UPSAMPLER = "lite0_jbu"


def _check(learned_maps: str) -> None:
    if learned_maps not in LEARNED_MAPS:
        raise ValueError(
            f"learned_maps must be one of {LEARNED_MAPS}, got {learned_maps!r}: 'shipped' "
            "measures hrcam/weights/, 'retrain' the chapter's own training"
        )


def measured_expansion(
    learned_maps: str, classifier: Any, trained: Any, batch_size: int
) -> tuple[Any, dict[str, Any]]:
    """Return the HRCAM model a chapter measures and the facts its pages state.

    Parameters
    ----------
    learned_maps
        ``"shipped"`` or ``"retrain"`` (the profile parameter).
    classifier
        The (wrapped Lite0) classifier.
    trained, batch_size
        The chapter's own :class:`~hrcam.train.TrainResult` (its walk-through training) and
        its batch size.

    Returns
    -------
    tuple
        The model, and ``source`` ("shipped" or "retrained"), ``images_seen``, ``val_psnr``,
        ``basis`` (what the high-res map is, :meth:`ExpansionNetwork.describe_basis`) and
        ``card`` (the shipped model card, or ``None``).
    """
    from hrcam.models import load_checkpoint
    from hrcam.models.shipped import load_shipped, read_card

    _check(learned_maps)
    if learned_maps == "shipped":
        model = load_shipped(SHIPPED_EXPANSION, classifier)
        card = read_card(SHIPPED_EXPANSION)
        facts = {"source": "shipped", "images_seen": int(card["images_seen"]),
                 "val_psnr": float(card["val_psnr"]), "card": card}  # fmt: skip
    else:
        model = load_checkpoint(trained.best_checkpoint).model().eval()
        facts = {"source": "retrained", "images_seen": _images_seen(trained, batch_size),
                 "val_psnr": float(trained.final["val_psnr"]), "card": None}  # fmt: skip
    facts["basis"] = model.expansion.describe_basis(model.classifier.fc.weight)
    return model, facts


def _images_seen(trained: Any, batch_size: int) -> int:
    """Images a :class:`~hrcam.train.TrainResult`'s model has seen (steps times batch)."""
    return int(trained.final.get("global_step", 0)) * int(batch_size)


def measured_upsampler(
    learned_maps: str, classifier: Any, trained: Any, batch_size: int
) -> tuple[Any, dict[str, Any]]:
    """Return the learned JBU a chapter measures and the facts its pages state.

    ``trained`` is the chapter's own training's :class:`~hrcam.train.TrainResult`. The facts
    are ``source``, ``images_seen``, ``val_loss`` and ``card`` (as :func:`measured_expansion`).
    """
    from hrcam.models.jbu import load_upsampler
    from hrcam.models.shipped import load_shipped, read_card

    _check(learned_maps)
    if learned_maps == "shipped":
        card = read_card(SHIPPED_UPSAMPLER)
        upsampler = load_shipped(SHIPPED_UPSAMPLER, classifier)
        return upsampler, {"source": "shipped", "images_seen": int(card["images_seen"]),
                           "val_loss": float(card["val_loss"]), "card": card}  # fmt: skip
    upsampler = load_upsampler(trained.best_checkpoint, classifier)
    return upsampler, {"source": "retrained", "images_seen": _images_seen(trained, batch_size),
                       "val_loss": float(trained.final["val_loss"]), "card": None}  # fmt: skip


def scale_text(
    images: int,
    units: int,
    unit_name: str,
    maps: Mapping[str, Mapping[str, Any] | None],
) -> str:
    """Return the sentence that names a verdict's scale.

    Parameters
    ----------
    images, units, unit_name
        Images scored, and the independent units the intervals resample (e.g. 26 "stamps").
    maps
        ``{name: facts}`` of the learned maps the verdict involves (:func:`measured_expansion`
        and :func:`measured_upsampler`'s facts).

    Returns
    -------
    str
        E.g. "48 images scored, 26 independent stamps; expansion network (shipped): 2,560
        training images seen, val PSNR 20.1 dB".
    """
    parts = [f"{images} images scored, {units} independent {unit_name}"]
    for name, facts in maps.items():
        if facts is None:
            parts.append(f"{name}: how long it was trained is not recorded")
            continue
        quality = (
            f"val PSNR {facts['val_psnr']:.1f} dB"
            if "val_psnr" in facts
            else f"validation loss {facts['val_loss']:.3f}"
        )
        parts.append(
            f"{name} ({facts['source']}): {facts['images_seen']:,} training images seen, {quality}"
        )
    return "; ".join(parts)


_FACT_KEYS = ("source", "images_seen", "val_psnr")


def checkpoint_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Return the plain part of :func:`measured_expansion`'s facts, for a checkpoint's extra."""
    return {f"learned_maps_{k}": facts[k] for k in _FACT_KEYS}


def facts_of_checkpoint(path: Any) -> dict[str, Any] | None:
    """Return :func:`checkpoint_facts` read back from a checkpoint (``None``: it has none)."""
    from hrcam.models.checkpoint import read_extra

    # The extra payload alone: no model is built to read three plain values.
    extra = read_extra(path)
    if f"learned_maps_{_FACT_KEYS[0]}" not in extra:
        return None
    return {k: extra[f"learned_maps_{k}"] for k in _FACT_KEYS}


_JBU_KEYS = ("source", "images_seen", "val_loss")


def upsampler_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Return the plain part of :func:`measured_upsampler`'s facts, for a checkpoint's extra."""
    return {f"learned_maps_{k}": facts[k] for k in _JBU_KEYS}


def facts_of_upsampler(path: Any) -> dict[str, Any] | None:
    """Return :func:`upsampler_facts` read back from an upsampler checkpoint (or ``None``)."""
    from hrcam.models.jbu import read_upsampler_payload

    extra = read_upsampler_payload(path).get("extra") or {}
    if f"learned_maps_{_JBU_KEYS[0]}" not in extra:
        return None
    return {k: extra[f"learned_maps_{k}"] for k in _JBU_KEYS}
