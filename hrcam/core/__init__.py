"""Rules every layer of hrcam shares, each in the module named after what it does.

``maps``
    Min-max normalising, the map validator and the class-index check.
``tables``
    Rows of result tables: finding one, its CI copied out and printed, JSON-safe values.

Nothing here imports another hrcam package: the data, the models, the post-processing, the
methods, the metrics, the evaluation and the studies all import it from below.
"""

import lazy_loader

# Submodules load on first use (scikit-image's lazy_loader), as in every hrcam package.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submodules=["maps", "tables"])
