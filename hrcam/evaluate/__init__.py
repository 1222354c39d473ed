"""Measure localization and faithfulness of saliency methods on one model and data set.

One public import for the whole evaluation::

    from hrcam.evaluate import evaluate, EvaluateConfig, evaluate_checkpoint

The package is split by what each part does:

``config``
    :class:`EvaluateConfig`, the frozen, validated settings of one evaluation.
``registry``
    The saliency methods: one :class:`~hrcam.evaluate.registry.MethodEntry` each (label,
    builder, cost, image limit), registered with :func:`register_method`.
``running``
    The evaluation loop (:func:`run_evaluation`, and :func:`evaluate` building the config).
``scoring``
    Per-image scores and their per-method summaries (:func:`summary_rows`,
    :func:`section5_rows`).
``statistics``
    Percentile-bootstrap confidence intervals.
``results``
    :class:`EvaluationResult` and :func:`save_outputs`, the one writer of result files.
``report``
    The markdown report (:func:`render_markdown`).
``sources``, ``loading``
    The high-res-source ablation (:func:`evaluate_sources`), and loading a checkpoint with a
    store for the CLI (:func:`evaluate_checkpoint`).
``precision``
    What a bfloat16 expansion network changes in the maps (:func:`precision_effect`).

No submodule imports torch at module level.
"""

from __future__ import annotations

from typing import Any

from hrcam.evaluate import scoring
from hrcam.evaluate.config import TARGETS, EvaluateConfig, EvaluateConfigError
from hrcam.evaluate.loading import EvaluationInputError, evaluate_checkpoint, load_for_evaluation
from hrcam.evaluate.precision import map_deviation, precision_effect, precision_text
from hrcam.evaluate.registry import (
    MethodEntry,
    MethodOptions,
    UnknownMethodError,
    get_method,
    method_label,
    method_names,
    register_method,
)
from hrcam.evaluate.report import render_markdown, seconds_table
from hrcam.evaluate.results import EvaluationResult, save_outputs, write_json
from hrcam.evaluate.running import evaluate, run_evaluation
from hrcam.evaluate.scoring import *  # noqa: F403 (its __all__, re-exported below)
from hrcam.evaluate.sources import evaluate_sources
from hrcam.evaluate.statistics import CI_METHOD, bootstrap_mean_ci

__all__ = [
    *scoring.__all__,
    "CI_METHOD",
    "TARGETS",
    "EvaluateConfig",
    "EvaluateConfigError",
    "EvaluationInputError",
    "EvaluationResult",
    "MethodEntry",
    "MethodOptions",
    "UnknownMethodError",
    "bootstrap_mean_ci",
    "evaluate",
    "evaluate_checkpoint",
    "evaluate_sources",
    "get_method",
    "load_for_evaluation",
    "map_deviation",
    "method_label",
    "method_names",
    "precision_effect",
    "precision_text",
    "register_method",
    "seconds_table",
    "render_markdown",
    "run_evaluation",
    "save_outputs",
    "write_json",
]


def __getattr__(name: str) -> Any:
    # ``DEFAULT_METHODS`` (every registered method) is read from the registry on use: the
    # built-in entries register on import of hrcam.baselines, which imports this package.
    if name == "DEFAULT_METHODS":
        return method_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
