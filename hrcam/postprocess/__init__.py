"""Post-processing of the paper's §3.3: refine a low-res CAM with a high-res one.

>>> from hrcam.postprocess import refine
>>> res = refine(low_res_cam, high_res_cam, preset="paper")  # doctest: +SKIP
>>> res.refined.shape == high_res_cam.shape  # doctest: +SKIP
True

The pipeline (:func:`refine`) composes the small pure functions of :mod:`.steps`; all its
parameters live in :class:`RefineConfig`, and :data:`PRESETS` holds the ``"paper"`` and
``"reference"`` parameter sets (see :mod:`.config` for how they differ).
"""

from hrcam.postprocess import steps
from hrcam.postprocess.config import PRESETS, RefineConfig, resolve_config
from hrcam.postprocess.pipeline import (
    FAILURE_REASONS,
    STEP_PANELS,
    RefineResult,
    StepPanel,
    refine,
)

__all__ = [
    "FAILURE_REASONS",
    "PRESETS",
    "STEP_PANELS",
    "RefineConfig",
    "RefineResult",
    "StepPanel",
    "refine",
    "resolve_config",
    "steps",
]
