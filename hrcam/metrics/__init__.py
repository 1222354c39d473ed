"""Localization and faithfulness metrics for saliency maps.

Every function takes one map (or a batch for the model-based metrics) and min-max
normalises it first, so maps in any range compare fairly.

* :mod:`~hrcam.metrics.pointing`: pointing game, energy-based pointing game.
* :mod:`~hrcam.metrics.masks`: mask IoU over a threshold grid, PxAP (data-set level).
* :mod:`~hrcam.metrics.boxes`: MaxBoxAccV2 (boxes from all contours, IoU 0.3/0.5/0.7).
* :mod:`~hrcam.metrics.faithfulness`: average drop / increase in confidence, deletion and
  insertion AUC, ROAD (grad-cam's implementation).
* :mod:`~hrcam.metrics.adcc`: ADCC (Poppi et al. 2021).
* :mod:`~hrcam.metrics.sanity`: cascading model-parameter randomization and the random-logit
  test (Adebayo et al. 2018), with Spearman and SSIM similarity, judged against a null of
  maps of different images.
* :mod:`~hrcam.metrics.statistics`: percentile-bootstrap confidence intervals and the rule for
  when there are too few units to judge (the evaluation's tables and the studies use them).
"""

import lazy_loader

# Names load from their submodule on first use (scikit-image's lazy_loader): importing
# one submodule, as the CLI's --help does, does not import the others.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_validation": [
            "DEFAULT_THRESHOLDS",
            "normalize_map",
        ],
        "adcc": [
            "AdccScores",
            "adcc",
            "adcc_from_terms",
            "coherency",
        ],
        "boxes": [
            "IOU_THRESHOLDS",
            "MaxBoxAccResult",
            "box_iou",
            "box_iou_curve",
            "boxes_from_binary",
            "max_box_acc",
        ],
        "faithfulness": [
            "ROAD_PERCENTILES",
            "ConfidenceChange",
            "DeletionInsertion",
            "RoadScores",
            "confidence_change",
            "deletion_insertion",
            "road",
            "target_probabilities",
        ],
        "masks": [
            "PixelCounts",
            "PXAP_THRESHOLDS",
            "average_precision_from_counts",
            "best_mask_iou",
            "dataset_pxap",
            "image_ap",
            "iou_curve",
            "pixel_counts",
            "pxap",
            "pxap_from_counts",
            "pxap_thresholds",
        ],
        "pointing": [
            "energy_pointing_game",
            "pointing_game",
        ],
        "sanity": [
            "NULL_QUANTILE",
            "SIMILARITIES",
            "NullVerdict",
            "RandomizationCurves",
            "cascading_randomization",
            "judge_against_null",
            "map_similarity",
            "null_similarity",
            "random_logit_targets",
            "randomize_modules",
            "spread_steps",
        ],
        "statistics": [
            "bootstrap_curve_max",
            "bootstrap_max_box_acc",
            "bootstrap_mean_ci",
            "bootstrap_pxap",
            "can_judge",
            "CI_METHOD",
            "ci_method",
            "max_box_acc_stats",
            "MIN_VERDICT_UNITS",
            "paired_mean_ci",
            "paired_stat_ci",
            "pxap_stats",
            "resample_weights",
            "TOO_FEW_TO_JUDGE",
        ],
    },
)
