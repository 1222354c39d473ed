"""Measure localization and faithfulness of saliency methods (``hrcam.evaluate``).

The module moves into a package: its code is :mod:`hrcam.evaluate.running` for now, and this
file re-exports it so that every import keeps working.
"""

from hrcam.evaluate.running import *  # noqa: F403
from hrcam.evaluate.running import _image_scores, _json_default, _write_csv  # noqa: F401
