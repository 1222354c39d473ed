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

from typing import Any

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader), so that importing
# the package imports none of its modules.
_attribute, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs=public_names(
        __file__, ["config", "loading", "localization", "report", "results", "running", "scoring"]
    ),
)


def __getattr__(name: str) -> Any:
    """Load ``name`` from its submodule; ``DEFAULT_METHODS`` is every registered method."""
    # Read from the registry on each use (never cached), so that a method registered after
    # this import is in it too.
    if name == "DEFAULT_METHODS":
        from hrcam.methods.registry import method_names

        return method_names()
    return _attribute(name)
