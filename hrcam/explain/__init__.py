"""Refined CAMs from a trained model: a batch of images, or image files on disk.

* :mod:`hrcam.explain.explainer` -- :class:`Explainer`, a batch of images in, one
  :class:`Explanation` (low-res, high-res and refined CAM) per image out.
* :mod:`hrcam.explain.files` -- :func:`explain_images`, image files in (any size or mode), the
  refined maps and Fig.-4 panels written beside a ``report.json``; what ``hrcam explain`` runs.

>>> from hrcam.explain import Explainer, explain_images
>>> results = Explainer(model, preset="paper").explain(images)  # doctest: +SKIP
>>> report = explain_images(["cat.jpg"], "runs/demo/03_expansion/best.pt", "out/")  # doctest: +SKIP

Importing this package does not import torch (the CLI's ``--help`` reads its defaults).
"""

from hrcam.explain.explainer import PRECISIONS, Explainer, Explanation
from hrcam.explain.files import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    OUTPUT_SUFFIXES,
    ExplainedImage,
    ExplainReport,
    SkippedImage,
    expand_inputs,
    explain_images,
    load_rgb,
    panel_figsize,
    plan_outputs,
    resize_map,
    unique_stems,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "OUTPUT_SUFFIXES",
    "PRECISIONS",
    "ExplainReport",
    "ExplainedImage",
    "Explainer",
    "Explanation",
    "SkippedImage",
    "expand_inputs",
    "explain_images",
    "load_rgb",
    "panel_figsize",
    "plan_outputs",
    "resize_map",
    "unique_stems",
]
