"""The book's notebooks: their order, the parameters each reads, the run-folder stage each writes.

:mod:`hrcam.profiles` holds the values of the parameters (one dict per profile) and re-exports
these tables; this module only says which notebook reads which names.
"""

from __future__ import annotations

__all__ = ["NOTEBOOKS", "NOTEBOOK_PARAMETERS", "OPTIONAL_CHAPTERS", "STAGE_DIRS"]

# What training the expansion network reads: notebook 03, and notebook 09, which trains it
# again with the consistency term.
_EXPANSION_TRAINING = (
    "seed",
    "device",
    "num_workers",
    "expansion_epochs",
    "batch_size",
    "augment",
    "resume",
    "eval_every",
    "eval_images",
)

# The notebooks of the book, in execution order, and the parameters each one reads.
# ``profile`` and ``run_dir`` are implicit in every notebook.
NOTEBOOK_PARAMETERS: dict[str, tuple[str, ...]] = {
    "01_dataset": (
        "seed",
        "dataset",
        "data_root",
        "num_classes",
        "image_size",
        "num_train",
        "num_val",
    ),
    "02_classifier": (
        "seed",
        "device",
        "num_workers",
        "arch",
        "classifier_epochs",
        "batch_size",
        "augment",
        "resume",
    ),
    "03_expansion": _EXPANSION_TRAINING,
    "04_postprocess": ("device", "sample_index", "num_examples"),
    "05_evaluation": (
        "device",
        "max_eval_images",
        "batch_size",
        "slow_metric_images",
        "road_images",
    ),
    "06_paper_vs_reference": ("device", "max_eval_images", "batch_size"),
    "07_evidence": (
        "seed",
        "device",
        "batch_size",
        "evidence_images",
        "oracle_smoothness",
        "oracle_noise",
        "section5_images",
        "variants",
        "variant_num_train",
        "variant_num_val",
        "variant_classifier_epochs",
        "variant_expansion_epochs",
    ),
    "08_real_photos": (
        "seed",
        "device",
        "photo_crops",
        "photo_image_size",
        "photo_epochs",
        "photo_batch_size",
    ),
    "09_beyond_the_paper": (
        *_EXPANSION_TRAINING,
        "consistency_weight",
        "max_eval_images",
        "slow_metric_images",
        "road_images",
        "num_examples",
        "evidence_images",
        "oracle_smoothness",
        "oracle_noise",
        "consistency_variants",
        "variant_expansion_epochs",
    ),
    "10_real_cutouts": (
        "seed",
        "device",
        "real_cutouts",
        "cutout_stamps",
        "cutout_backgrounds",
        "cutout_num_train",
        "cutout_num_val",
        "cutout_image_size",
        "cutout_epochs",
        "cutout_batch_size",
        "cutout_eval_images",
        "cutout_feather",
        "cutout_skip_methods",
    ),
    "11_upsamplers": (
        "seed",
        "device",
        "upsampler_epochs",
        "upsampler_batch_size",
        "upsampler_max_batches",
        "upsampler_eval_images",
        "upsampler_sess_images",
    ),
    "12_photo_faithfulness": (
        "seed",
        "device",
        "photo_faithfulness",
        "photo_installed_only",
        "photo_images",
        "photo_random_blocks",
        "photo_curve_steps",
        "photo_deletion_steps",
        "photo_road_images",
        "photo_skip_methods",
    ),
    "13_claims": (),
}
NOTEBOOKS: tuple[str, ...] = tuple(NOTEBOOK_PARAMETERS)

# Each notebook writes only inside its own folder of the run folder; later notebooks read the
# earlier folders. The runner hashes these folders to decide what needs to rerun.
STAGE_DIRS: dict[str, str] = {
    "01_dataset": "data",
    "02_classifier": "classifier",
    "03_expansion": "expansion",
    "04_postprocess": "postprocess",
    "05_evaluation": "evaluation",
    "06_paper_vs_reference": "presets",
    "07_evidence": "evidence",
    "08_real_photos": "photos",
    "09_beyond_the_paper": "beyond",
    "10_real_cutouts": "cutouts",
    "11_upsamplers": "upsamplers",
    "12_photo_faithfulness": "photo_faithfulness",
    "13_claims": "claims",
}

# Chapters that need data outside the wheel, with the parameter that skips them: a skipped
# chapter's page says so (the runner writes it instead of executing the notebook), and the
# claims page answers from the chapters that ran.
OPTIONAL_CHAPTERS: dict[str, str] = {
    "10_real_cutouts": "real_cutouts",
    "12_photo_faithfulness": "photo_faithfulness",
}
