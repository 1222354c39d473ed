"""Load a checkpoint and a store that fit together, and evaluate (the CLI's path)."""

from __future__ import annotations

import os
from typing import Any

from hrcam.errors import HrcamError
from hrcam.evaluate.results import EvaluationResult
from hrcam.evaluate.running import evaluate

__all__ = ["EvaluationInputError", "evaluate_checkpoint", "load_for_evaluation"]


class EvaluationInputError(HrcamError):
    """A checkpoint or store that cannot be evaluated (no masks, another image size)."""


def load_for_evaluation(
    checkpoint: str | os.PathLike, data: str | os.PathLike, split: str = "val", device: str = "cpu"
) -> tuple[Any, Any]:
    """Load an ``hrcam`` checkpoint and a store with masks, checking that they fit.

    Returns
    -------
    (model, dataset)
        The :class:`~hrcam.models.HRCAM` in eval mode and the split's ``StoreDataset``.
    """
    from hrcam.models.loading import load_trained

    model, dataset, metadata = load_trained(checkpoint, data, split, device, eval_mode=True)
    if not dataset.has_masks:
        raise EvaluationInputError(
            f"store {str(data)!r} has no ground-truth masks; localization cannot be measured "
            "(use the built-in synthetic data set)"
        )
    size = metadata.get("image_size")
    if size and dataset.image_size != size:
        raise EvaluationInputError(
            f"the checkpoint was trained at {size} px but the store holds {dataset.image_size} "
            "px images; evaluate on a store of the same size"
        )
    return model, dataset


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "val",
    device: str = "cpu",
    upsampler: str | os.PathLike | None = None,
    **kwargs: Any,
) -> EvaluationResult:
    """Load an ``hrcam`` checkpoint and a store, then :func:`evaluate` (the CLI's path).

    Parameters
    ----------
    checkpoint
        Checkpoint with a trained expansion network (``kind`` "hrcam").
    data
        Store directory (e.g. written by ``hrcam data synthetic``).
    split
        Split to evaluate (the held-out ``val`` by default).
    device
        Torch device for the model.
    upsampler
        A learned upsampler's checkpoint (``hrcam train upsampler``'s ``best.pt``) for the
        classifier of ``checkpoint``: the model then carries it, for method ``featup_jbu``.
    **kwargs
        Passed to :func:`evaluate`.
    """
    model, dataset = load_for_evaluation(checkpoint, data, split, device)
    learned = None
    if upsampler is not None:
        from hrcam.models.jbu import load_upsampler, with_upsampler

        # Refused here, naming both checkpoints, when trained for another classifier.
        learned = load_upsampler(upsampler, model.classifier, classifier_source=checkpoint)
        model = with_upsampler(model, learned)
    result = evaluate(model, dataset, **kwargs)
    result.config["checkpoint"] = str(checkpoint)
    if learned is not None:  # the report names the upsampler that featup_jbu used
        result.config["upsampler"] = {
            "checkpoint": str(upsampler),
            "classifier_fingerprint": learned.config.get("classifier_fingerprint"),
        }
    return result
