"""The post-processing steps of the paper's §3.3, each a small pure function on numpy arrays.

One module per stage, in pipeline order; every step is importable from here
(``steps.focal_points``), which is how :func:`hrcam.postprocess.refine` calls them:

``seeds``
    Focal points of the low-res CAM and the ROI around them (:func:`focal_points`,
    :func:`roi_mask`, :func:`percentile_of`).
``filters``
    Normalisation, bilinear resizing, the box blur and the Sobel magnitude.
``growing``
    Growth bounds, region growing from the seeds (:func:`connected_threshold`), edges and
    hole filling.
``merging``
    The region blended into the low-res CAM, the §5 failure test and the refined map.

Conventions
-----------
- Maps are 2-D arrays indexed ``[row, col]``; points are ``(N, 2)`` integer arrays of
  ``(row, col)``. OpenCV's flood fill wants ``(x, y) = (col, row)``; only
  :func:`connected_threshold` converts.
- Continuous maps are returned as ``float32``; masks as ``bool``.
- Functions assume valid input (finite, 2-D, matching shapes); :mod:`..validation` checks what
  a user passes to :func:`hrcam.postprocess.refine` before any step runs.

A new step is one function in its stage's module (and its name in that module's
``__all__``, which this package exports), one call in :func:`hrcam.postprocess.refine`, and
its test.
"""

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader), so that importing
# the package imports none of its modules.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["filters", "growing", "merging", "seeds"],
    submod_attrs=public_names(__file__, ["filters", "growing", "merging", "seeds"]),
)
