"""Figures for the book and for scripts: every function returns a matplotlib ``Figure``.

* :mod:`hrcam.plotting.figures` -- the paper's Figures 2-4, the pipeline's steps, datasets,
  training curves, CAM grids, :func:`score_bars` for a plain table, and
  :func:`select_example` (which image the figures show).
* :mod:`hrcam.plotting.evaluation` -- an :class:`hrcam.evaluate.EvaluationResult`:
  :func:`metric_bars` with confidence intervals, win/fail examples.
* :mod:`hrcam.plotting.evidence` -- the evidence chapter: paired differences, sweeps,
  failure kinds, localization over epochs.
* :mod:`hrcam.plotting.comparison` -- the "Beyond the paper" page: localization against
  runtime, localization per epoch of two expansion networks, maps side by side at full
  resolution.
* :mod:`hrcam.plotting.front` -- the cost–quality front: localization against runtime, the
  Pareto front drawn and named, the paper's maps marked.
* :mod:`hrcam.plotting.learning` -- learning curves of the learned maps against images seen.

>>> from hrcam import plotting
>>> fig = plotting.figure2(image, result.low_res, title="cat")  # doctest: +SKIP

Names load from their submodule on first use, so importing this package imports neither
matplotlib nor torch (nor the evaluation and evidence modules).
"""

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader).
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["comparison", "evaluation", "evidence", "figures", "front", "learning"],
    submod_attrs=public_names(
        __file__, ["comparison", "evaluation", "evidence", "figures", "front", "learning"]
    ),
)
