"""Open what the notebooks' earlier stages left in a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrcam.book.profiles import stage_dir

__all__ = ["load_run"]


def load_run(
    run_dir: str | Path, device: str | None = "auto", require_masks: bool = False
) -> tuple[Any, Any]:
    """Load the run's trained HRCAM model and its validation split.

    Parameters
    ----------
    run_dir
        The run folder shared by the notebooks (``runs/demo`` ...).
    device
        Where the model is loaded: ``"auto"`` (or ``None``), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    require_masks
        Raise if the dataset has no ground-truth masks (localization needs them).

    Returns
    -------
    (model, val)
        The :class:`~hrcam.models.HRCAM` of ``run_dir/expansion/best.pt`` and the ``val``
        :class:`~hrcam.data.StoreDataset` of ``run_dir/data``.

    Raises
    ------
    FileNotFoundError
        When notebook 01 (dataset) or 03 (expansion) has not been run for ``run_dir``.
    ValueError
        When ``require_masks`` is set and the dataset has no masks.
    """
    from hrcam.models.loading import load_trained

    data = stage_dir(run_dir, "01_dataset")
    if not data.is_dir():
        raise FileNotFoundError(
            f"{data} does not exist: run notebook 01_dataset first (same run_dir)"
        )
    checkpoint = stage_dir(run_dir, "03_expansion") / "best.pt"
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"{checkpoint} does not exist: run notebook 03_expansion first (same run_dir)"
        )
    model, val, _ = load_trained(checkpoint, data, "val", device)
    if require_masks and not val.has_masks:
        raise ValueError(
            "localization needs ground-truth masks, and this run's dataset has none (ImageNet); "
            "run this notebook on the synthetic dataset"
        )
    return model, val
