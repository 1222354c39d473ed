"""Measure localization and faithfulness of saliency methods on one model and data set.

One public import for the whole evaluation::

    from hrcam.evaluate import evaluate, EvaluateConfig, evaluate_checkpoint

The package is split by what each part does:

``config``
    :class:`EvaluateConfig`, the frozen, validated settings of one evaluation.
``running``
    The evaluation loop (:func:`run_evaluation`, and :func:`evaluate` building the config).
``scoring``
    Per-image scores and their per-method summaries (:func:`summary_rows`,
    :func:`section5_rows`).
``results``
    :class:`EvaluationResult` and :func:`save_outputs`, the one writer of result files.
``report``
    The markdown report (:func:`render_markdown`).
``loading``
    Loading a checkpoint with a store for the CLI (:func:`evaluate_checkpoint`).
``localization``
    The ``loc_*`` localization of the four maps that expansion training logs
    (:func:`localization_summary`).

The saliency methods it scores live in :mod:`hrcam.methods` (one
:class:`~hrcam.methods.registry.MethodEntry` each, registered with
:func:`~hrcam.methods.registry.register_method`; import the registry from
:mod:`hrcam.methods`); the book's experiments built on it (the high-res-source ablation, the
precision effect, the comparison) in :mod:`hrcam.studies`, which this package never imports.

No submodule imports torch at module level.
"""

from __future__ import annotations

from typing import Any

from hrcam.evaluate import scoring
from hrcam.evaluate.config import TARGETS, EvaluateConfig, EvaluateConfigError
from hrcam.evaluate.loading import EvaluationInputError, evaluate_checkpoint, load_for_evaluation
from hrcam.evaluate.localization import (
    LOCALIZATION_MAPS,
    localization_columns,
    localization_summary,
)
from hrcam.evaluate.report import render_markdown, seconds_table
from hrcam.evaluate.results import EvaluationResult, save_outputs, write_json
from hrcam.evaluate.running import evaluate, run_evaluation
from hrcam.evaluate.scoring import *  # noqa: F403 (its __all__, re-exported below)
from hrcam.methods.registry import method_names
from hrcam.metrics.statistics import CI_METHOD, bootstrap_mean_ci

__all__ = [
    *scoring.__all__,
    "CI_METHOD",
    "TARGETS",
    "EvaluateConfig",
    "EvaluateConfigError",
    "LOCALIZATION_MAPS",
    "EvaluationInputError",
    "EvaluationResult",
    "bootstrap_mean_ci",
    "evaluate",
    "evaluate_checkpoint",
    "load_for_evaluation",
    "localization_columns",
    "localization_summary",
    "seconds_table",
    "render_markdown",
    "run_evaluation",
    "save_outputs",
    "write_json",
]


def __getattr__(name: str) -> Any:
    # ``DEFAULT_METHODS`` (every registered method) is read from the registry on use, so that
    # a method registered after this import is in it too.
    if name == "DEFAULT_METHODS":
        return method_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
