"""hrcam: High-Resolution Class Activation Mapping (Tagaris et al., ICIP 2019).

Submodules are imported lazily so that ``import hrcam`` stays cheap (no torch import)
and the command line starts fast.
"""

from __future__ import annotations

import lazy_loader

from hrcam.core.exports import public_names

# scikit-image's lazy_loader: ``hrcam.models`` etc. import on first use.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "book",
        "data",
        "evaluate",
        "explain",
        "methods",
        "metrics",
        "models",
        "plotting",
        "postprocess",
        "studies",
        "train",
    ],
    submod_attrs=public_names(__file__, ["_version"]),
)
