"""Localization and faithfulness metrics for saliency maps.

Every function takes one map (or a batch for the model-based metrics) and min-max
normalises it first, so maps in any range compare fairly.

* :mod:`~hrcam.metrics.pointing`: pointing game, energy-based pointing game.
* :mod:`~hrcam.metrics.masks`: mask IoU over a threshold grid, PxAP (data-set level).
* :mod:`~hrcam.metrics.boxes`: MaxBoxAccV2 (boxes from all contours, IoU 0.3/0.5/0.7).
* :mod:`~hrcam.metrics.faithfulness`: average drop / increase in confidence, deletion and
  insertion AUC, ROAD (grad-cam's implementation).
* :mod:`~hrcam.metrics.adcc`: ADCC (Poppi et al. 2021).
* :mod:`~hrcam.metrics.sanity`: cascading model-parameter randomization and the random-logit
  test (Adebayo et al. 2018), with Spearman and SSIM similarity, judged against a null of
  maps of different images.
* :mod:`~hrcam.metrics.statistics`: percentile-bootstrap confidence intervals and the rule for
  when there are too few units to judge (the evaluation's tables and the studies use them).
"""

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader): importing
# one submodule, as the CLI's --help does, does not import the others.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs=public_names(
        __file__,
        [
            "_validation",
            "adcc",
            "boxes",
            "faithfulness",
            "masks",
            "pointing",
            "sanity",
            "statistics",
        ],
    ),
)
