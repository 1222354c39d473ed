"""hrcam: High-Resolution Class Activation Mapping (Tagaris et al., ICIP 2019).

Submodules are imported lazily so that ``import hrcam`` stays cheap (no torch import)
and the command line starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from hrcam._version import __version__

__all__ = ["__version__"]

_SUBMODULES = {
    "postprocess",
    "models",
    "data",
    "train",
    "metrics",
    "baselines",
    "evaluate",
    "explain",
    "profiles",
    "book",
    "plotting",
    "runs",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"hrcam.{name}")
    raise AttributeError(f"module 'hrcam' has no attribute {name!r}")
