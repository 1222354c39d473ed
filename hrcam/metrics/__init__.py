"""Localization and faithfulness metrics for saliency maps.

Every function takes one map (or a batch for the model-based metrics) and min-max
normalises it first, so maps in any range compare fairly.

* :mod:`~hrcam.metrics.pointing`: pointing game, energy-based pointing game.
* :mod:`~hrcam.metrics.masks`: mask IoU over a threshold grid, PxAP.
* :mod:`~hrcam.metrics.boxes`: MaxBoxAccV2 (boxes from all contours, IoU 0.3/0.5/0.7).
* :mod:`~hrcam.metrics.faithfulness`: average drop / increase in confidence, deletion and
  insertion AUC, ROAD (grad-cam's implementation).
"""

from hrcam.metrics._validation import DEFAULT_THRESHOLDS, normalize_map
from hrcam.metrics.boxes import (
    IOU_THRESHOLDS,
    MaxBoxAccResult,
    box_iou,
    box_iou_curve,
    boxes_from_binary,
    max_box_acc,
)
from hrcam.metrics.faithfulness import (
    ROAD_PERCENTILES,
    ConfidenceChange,
    DeletionInsertion,
    RoadScores,
    confidence_change,
    deletion_insertion,
    road,
    target_probabilities,
)
from hrcam.metrics.masks import (
    PixelCounts,
    average_precision_from_counts,
    best_mask_iou,
    iou_curve,
    pixel_counts,
    pxap,
)
from hrcam.metrics.pointing import energy_pointing_game, pointing_game

__all__ = [
    "DEFAULT_THRESHOLDS",
    "IOU_THRESHOLDS",
    "ROAD_PERCENTILES",
    "ConfidenceChange",
    "DeletionInsertion",
    "MaxBoxAccResult",
    "PixelCounts",
    "RoadScores",
    "average_precision_from_counts",
    "best_mask_iou",
    "box_iou",
    "box_iou_curve",
    "boxes_from_binary",
    "confidence_change",
    "deletion_insertion",
    "energy_pointing_game",
    "iou_curve",
    "max_box_acc",
    "normalize_map",
    "pixel_counts",
    "pointing_game",
    "pxap",
    "road",
    "target_probabilities",
]
