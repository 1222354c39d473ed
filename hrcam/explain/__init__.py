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

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader), so that importing
# the package imports none of its modules.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs=public_names(__file__, ["explainer", "files", "panels"]),
)
