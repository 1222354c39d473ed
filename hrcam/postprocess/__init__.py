"""Post-processing of the paper's §3.3: refine a low-res CAM with a high-res one.

>>> from hrcam.postprocess import refine
>>> res = refine(low_res_cam, high_res_cam, preset="paper")  # doctest: +SKIP
>>> res.refined.shape == high_res_cam.shape  # doctest: +SKIP
True

The pipeline (:func:`refine`) composes the small pure functions of :mod:`.steps`; all its
parameters live in :class:`RefineConfig`, and :data:`PRESETS` holds the ``"paper"`` and
``"reference"`` parameter sets (see :mod:`.config` for how they differ).
"""

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader), so that importing
# the package imports none of its modules.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["steps"],
    submod_attrs=public_names(__file__, ["config", "pipeline"]),
)
