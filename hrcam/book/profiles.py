"""Named parameter profiles for the notebooks and the ``hrcam book`` runner.

This module is the single place that says how big a run is. Four profiles exist:

``smoke``
    Seconds per notebook; used by the test-suite.
``demo``
    The default: the built-in synthetic dataset on a CPU; the whole book (all notebooks plus
    ``jupyter-book build``) in about 15 minutes on a 2-core machine (budget: 20).
``study``
    The demo's data and models, larger, and the evidence chapter (notebook 07) on many more
    images and bigger variant runs, and the consistency-trained expansion network of
    notebook 09 on those variants too: about an hour on a 2-core CPU.
``paper``
    The paper's settings: ImageNet animals (398 classes) at 224 px, DenseNet-121, 50 + 50
    epochs with adadelta, on a GPU.

Parameters live in one flat namespace (``classifier_epochs`` rather than ``epochs``) so that
``hrcam book -p NAME VALUE`` means the same thing in every notebook that declares ``NAME``.
Each notebook declares the subset it reads in its papermill ``parameters`` cell, and only
there (``None`` meaning "take the profile's value"); the next cell calls
:func:`notebook_config`, which rejects any name that is not a parameter.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hrcam.book.chapters import STAGE_DIRS, chapter
from hrcam.book.config_view import NotebookConfig
from hrcam.train.config import TrainConfig

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "check_overrides",
    "check_types",
    "notebook_config",
    "resolve",
    "stage_dir",
]

DEFAULT_PROFILE = "demo"

# Values shared by the three profiles; each profile below overrides what differs.
_BASE: dict[str, Any] = {
    "seed": 0,
    "device": "auto",  # "auto" picks CUDA when present, else CPU
    "num_workers": 0,
    # Data (notebook 01).
    "dataset": "synthetic",
    "data_root": None,  # None: generate/find the data inside the run folder
    "num_classes": 4,
    "image_size": 64,
    "num_train": 64,
    "num_val": 32,
    # Classifier (notebook 02).
    "arch": "densenet_compact",
    "classifier_epochs": 1,
    "batch_size": 16,
    "augment": TrainConfig.defaults()["augment"],  # the training default, said in TrainConfig
    # Expansion network (notebook 03).
    "expansion_epochs": 1,
    # Localization of low-res, high-res and refined CAMs every N epochs of expansion training
    # (0: off), on the first eval_images validation images (loc_* columns of metrics.csv).
    "eval_every": 1,
    "eval_images": 16,
    # Continue training from the stage's last.pt (02/03). `hrcam book` sets it by itself when
    # the previous attempt with the same inputs was interrupted; False starts afresh.
    "resume": False,
    # Post-processing (notebook 04) and evaluation (notebook 05).
    "sample_index": "auto",  # "auto": first well-explained validation image; or an index
    "num_examples": 2,
    "max_eval_images": 16,
    # Score-CAM and the faithfulness metrics cost many forward passes per image: cap them.
    "slow_metric_images": 2,
    # ROAD costs 8 sparse linear solves per image and method (~0.1 s each at 96 px): cap it.
    "road_images": 1,
    # Evidence chapter (notebook 07): the source ablation, the bounds sweep and the failure
    # analysis run on the first evidence_images validation images (post-processing only, cheap).
    "evidence_images": 16,
    "oracle_smoothness": 1.0,  # Gaussian sigma (px) of the mask in the oracle high-res map
    "oracle_noise": 0.3,  # share of uniform noise in the oracle map
    # Extra held-out images (same generator, another seed) for the §5 subsets: the low-res
    # CAM rarely misses, so the subset where it does needs many images (0: validation only).
    "section5_images": 16,
    # Data variants: each gets its own data, classifier and expansion network, all of the same
    # (small) size, so that they differ only in their data.
    "variants": ["thin_parts"],
    "variant_num_train": 48,
    "variant_num_val": 16,
    "variant_classifier_epochs": 1,
    "variant_expansion_epochs": 1,
    # A pretrained ImageNet classifier on real photos (notebook 08): the expansion network for
    # EfficientNet-Lite0 is trained on random crops of the photos bundled in skimage/sklearn/
    # matplotlib (crops per photo, crop side, epochs, batch); the figures are at 224 px.
    "photo_crops": 4,
    "photo_image_size": 64,
    "photo_epochs": 1,
    "photo_batch_size": 8,
    # Real animals on real photos (notebook 10): the cut-out store of Debian's Tux Paint stamps
    # on natural photos (hrcam data cutouts), EfficientNet-Lite0 and its expansion network.
    # real_cutouts False skips the chapter (no Debian packages); stamps/backgrounds None: the
    # Debian packages' folders. The feathered rebuild measures what the paste edge gives away.
    "real_cutouts": True,
    "cutout_stamps": None,
    "cutout_backgrounds": None,
    "cutout_num_train": 16,
    "cutout_num_val": 16,
    "cutout_image_size": 96,
    "cutout_epochs": 1,
    "cutout_batch_size": 8,
    "cutout_eval_images": 8,
    "cutout_feather": 2.0,
    # Which learned maps the natural-image chapters (08, 10-13) measure for Lite0: "shipped",
    # the longest-trained expansion network and learned JBU in hrcam/weights/ (each with its
    # model card and learning curve), or "retrain": the short trainings the chapters run as
    # their walk-through, from scratch, measured instead.
    "learned_maps": "shipped",
    # sess (grad-cam's SESS) runs ~120 windows per image, ~400 forward passes: left out here.
    "cutout_skip_methods": ["scorecam", "fullgrad", "sess"],
    # CAM upsamplers (notebook 11): the learned JBU (featup_jbu) trained on the cut-out store
    # (or the synthetic store when the cut-out chapter was skipped) for this many epochs of at
    # most `upsampler_max_batches` batches (None: the whole split); maps scored on the first
    # `upsampler_eval_images` validation images.
    "upsampler_epochs": 1,
    "upsampler_batch_size": 4,
    "upsampler_max_batches": 1,
    "upsampler_eval_images": 8,
    # SESS costs ~400 classifier passes per image: scored on this many of those images.
    "upsampler_sess_images": 1,
    # Untouched animal photos (notebook 12; hrcam/resources/animal_photos.tsv, mostly Debian's
    # gcompris-qt-data): faithfulness (A.D., A.I., ADCC, deletion/insertion, ROAD) and the
    # sanity checks of Adebayo et al. with notebook 10's Lite0 and expansion network.
    # photo_faithfulness False skips the chapter; photo_images None: every photo;
    # photo_random_blocks: how many of Lite0's 10 blocks (top first) the cascading test
    # randomizes (None: all; its verdict needs all); photo_curve_steps: at how many of those
    # steps, evenly spread, the last included, every map is computed again for the curve
    # (None: every step; each costs one more set of maps, randomizing costs nothing); ROAD
    # (8 sparse solves per image and method at 224 px) runs on the first photo_road_images.
    "photo_faithfulness": True,
    # True: measure only the photos whose package is installed (the tests' setting); False
    # refuses up front when one is missing.
    "photo_installed_only": False,
    "photo_images": 1,
    "photo_random_blocks": 10,  # all of Lite0's 10 blocks
    "photo_curve_steps": 1,
    "photo_deletion_steps": 4,
    "photo_road_images": 0,
    "photo_skip_methods": ["scorecam", "fullgrad", "sess"],
    # Beyond the paper (notebook 09): an expansion network trained with a consistency term of
    # this weight (hrcam train expansion --consistency-weight; the paper, and the default
    # there, is 0). 1.0 gives both terms of the loss the same scale: each is a relative
    # squared error (MSE of unit-variance normalised pixels; the pooled map's error relative
    # to the CAM features' energy), so neither dominates by construction.
    "consistency_weight": 1.0,
    # Data variants of notebook 07 that also get a consistency-trained expansion network
    # (a subset of `variants`; each costs one more expansion training).
    "consistency_variants": ["thin_parts"],
}

PROFILES: dict[str, dict[str, Any]] = {
    # Seconds per notebook: tiny data, one epoch each.
    "smoke": {**_BASE},
    # CPU demo: the whole main job in <= 20 min on 2 cores (15 min 4 s from a fresh clone on
    # 2026-12-06 with all 13 notebooks; the README lists each). An older measurement, from
    # a fresh clone
    # (`make book`, 6 min 50 s with set-up): data 6 s, classifier 56 s, expansion 122 s,
    # post-processing 10 s, evaluation 51 s, paper vs reference 10 s, build 4 s.
    # 08_real_photos (Lite0 on photos, 12 crops/photo, 2 epochs): 74 s of CPU time, 3 min 7 s
    # wall on a 2-core machine shared with three other jobs (load 9); 24 crops/photo took
    # 101 s CPU / 4 min 52 s wall and reached 18.9 dB val PSNR instead of 13.6.
    "demo": {
        **_BASE,
        "image_size": 96,
        "num_train": 1200,
        "num_val": 200,
        "classifier_epochs": 6,
        "expansion_epochs": 3,
        "batch_size": 32,
        "num_examples": 4,
        "max_eval_images": 100,
        "slow_metric_images": 8,
        "road_images": 8,
        "eval_images": 64,
        "evidence_images": 200,
        "section5_images": 800,
        "variants": ["default", "thin_parts", "plain_background", "small_objects"],
        "variant_num_train": 800,
        "variant_num_val": 200,
        "variant_classifier_epochs": 5,
        "variant_expansion_epochs": 1,
        "photo_crops": 12,
        "photo_image_size": 96,
        "photo_epochs": 2,
        # Real cut-outs at Lite0's own 224 px: a walk-through expansion training (32 images,
        # one epoch; the exact 398-channel map costs ~1.5 s an image to train on 2 cores) and
        # every method, with the shipped weights, on the first 48 validation images (accuracy
        # on all 256). Score-CAM (1280 forward passes an image) and FullGrad are left out.
        "cutout_image_size": 224,
        "cutout_num_train": 32,
        "cutout_num_val": 256,
        "cutout_eval_images": 48,
        # 12 photos, the fewest that carry a verdict (MIN_VERDICT_UNITS = 10) with a margin;
        # every block randomized, the curve through 4 steps. Per photo (1 thread, 2 shared
        # cores, 2026-12-07): ~1.3 s for each set of maps (5 here: the trained model's and 4
        # steps), ~4.9 s of faithfulness, ~1.3 s of random logit. Back to back on the same
        # loaded machine, these settings took 4.6 times as long as the former 3 photos and 3
        # blocks (348 s vs 73 s): from the chapter's 34 s, about 140 s, i.e. ~105 s more.
        "photo_images": 12,
        "photo_random_blocks": None,
        "photo_curve_steps": 4,
        "photo_deletion_steps": 8,
        # One more expansion training per variant: the demo's 15-minute budget holds one, the
        # variant built so that fine detail decides localization; study runs all four.
        "consistency_variants": ["thin_parts"],
        # At the cut-outs' 224 px one training step of FeatUp's JBU recipe (batch 4, 5 jitters)
        # takes tens of seconds on 2 cores: the demo's walk-through trains one step and
        # measures the shipped JBU; `study` trains it for 4 epochs.
        "upsampler_epochs": 1,
        "upsampler_max_batches": 1,
        "upsampler_eval_images": 16,
        "upsampler_sess_images": 1,
    },
    # CPU, about an hour on 2 cores: the demo with more data, longer training and the
    # evidence chapter on 1000 validation images and variants trained like the demo's model.
    "study": {
        **_BASE,
        "image_size": 96,
        "num_train": 3000,
        "num_val": 1000,
        "classifier_epochs": 8,
        "expansion_epochs": 6,
        "batch_size": 32,
        "num_examples": 4,
        "max_eval_images": 500,
        "slow_metric_images": 16,
        "road_images": 16,
        "eval_every": 1,
        "eval_images": 200,
        "evidence_images": 1000,
        "section5_images": 4000,
        "variants": ["default", "thin_parts", "plain_background", "small_objects"],
        "variant_num_train": 1200,
        "variant_num_val": 500,
        "variant_classifier_epochs": 6,
        "variant_expansion_epochs": 3,
        "consistency_variants": ["default", "thin_parts", "plain_background", "small_objects"],
        # Real cut-outs: more images, longer training, FullGrad too (Score-CAM still costs
        # 1280 forward passes an image, SESS hundreds).
        "cutout_image_size": 224,
        "cutout_num_train": 1024,
        "cutout_num_val": 512,
        "cutout_epochs": 3,
        "cutout_eval_images": 256,
        "cutout_skip_methods": ["scorecam", "sess"],
        "upsampler_epochs": 4,
        "upsampler_batch_size": 8,
        "upsampler_max_batches": None,
        "upsampler_eval_images": 64,
        "upsampler_sess_images": 16,
        "photo_images": None,
        "photo_random_blocks": None,
        "photo_curve_steps": None,
        "photo_deletion_steps": 16,
        "photo_road_images": 4,
    },
    # The paper's settings (Sec. 4): ImageNet animals at 224 px, 50 + 50 epochs, GPU.
    "paper": {
        **_BASE,
        "dataset": "imagenet",
        "data_root": None,  # must be given: -p data_root /path/to/ILSVRC2012
        "num_classes": 398,
        "image_size": 224,
        "num_train": None,  # None: every image of the split
        "num_val": None,
        "arch": "densenet121",
        "classifier_epochs": 50,
        "expansion_epochs": 50,
        "batch_size": 16,
        "device": "cuda",
        "num_workers": 8,
        "num_examples": 4,
        "max_eval_images": 5000,
        "slow_metric_images": 500,
        "road_images": 100,
        "eval_every": 0,  # ImageNet has no masks: localization cannot be measured
        "eval_images": 500,
        "evidence_images": 5000,
        "section5_images": 0,  # ImageNet cannot be extended
        # The variants are synthetic (96 px CPU-sized runs), not ImageNet.
        "variants": ["default", "thin_parts", "plain_background", "small_objects"],
        "variant_num_train": 1200,
        "variant_num_val": 500,
        "variant_classifier_epochs": 6,
        "variant_expansion_epochs": 3,
        "photo_crops": 500,
        "photo_image_size": 224,
        "photo_epochs": 20,
        "photo_batch_size": 16,
        "consistency_variants": ["default", "thin_parts", "plain_background", "small_objects"],
        "upsampler_epochs": 20,
        "upsampler_batch_size": 16,
        "upsampler_max_batches": None,
        "upsampler_eval_images": 500,
        "upsampler_sess_images": 100,
        "photo_images": None,
        "photo_random_blocks": None,
        "photo_curve_steps": None,
        "photo_deletion_steps": 16,
        "photo_road_images": 16,
    },
}

_IMPLICIT = ("profile", "run_dir")


def _check_profile(profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ValueError(
            f"unknown profile {profile!r}; choose one of {', '.join(sorted(PROFILES))}"
        )
    return PROFILES[profile]


def check_overrides(overrides: Mapping[str, Any], allowed: tuple[str, ...] | None = None) -> None:
    """Raise ``ValueError`` if ``overrides`` has a name outside ``allowed``.

    Parameters
    ----------
    overrides
        Parameter names and values.
    allowed
        Accepted names; by default every profile parameter.
    """
    allowed = tuple(_BASE) if allowed is None else allowed
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)}; known parameters are: "
            f"{', '.join(sorted(allowed))}"
        )


def _type_name(t: type) -> str:
    return {type(None): "null", bool: "true/false", int: "integer", float: "number",
            str: "text", list: "list", dict: "mapping"}.get(t, t.__name__)  # fmt: skip


def check_types(overrides: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` if an override's type differs from what the profiles use for it.

    The accepted types of a parameter are those of its values across all profiles (an
    integer is accepted where a number is, never a boolean where an integer is). So
    ``augment="flase"`` or ``classifier_epochs="abc"`` fail here, before any notebook runs,
    instead of being saved as text or failing an hour into a run.

    Parameters
    ----------
    overrides
        Parameter names and parsed values (names no profile defines are not checked).
    """
    bad = []
    for name, value in overrides.items():
        seen = {type(p[name]) for p in PROFILES.values() if name in p}
        if not seen or seen == {type(None)}:
            continue
        ok = type(value) in seen or (
            isinstance(value, int) and not isinstance(value, bool) and float in seen
        )
        if not ok:
            expected = " or ".join(sorted(_type_name(t) for t in seen))
            bad.append(f"{name}={value!r} (expected {expected})")
    if bad:
        raise ValueError(f"parameter(s) of the wrong type: {'; '.join(bad)}")


def resolve(
    profile: str = DEFAULT_PROFILE, names: Sequence[str] | None = None, **overrides: Any
) -> dict:
    """Return the parameter values of ``profile`` with ``overrides`` applied.

    Parameters
    ----------
    profile
        ``"smoke"``, ``"demo"`` or ``"paper"``.
    names
        Restrict the result (and the accepted overrides) to these parameters, e.g. the ones a
        notebook's parameters cell declares (:func:`hrcam.book.runner.declared_parameters`).
    **overrides
        Replacement values; a value of ``None`` keeps the profile's value.

    Returns
    -------
    dict
        A fresh dict (safe to mutate) mapping parameter names to values.

    Raises
    ------
    ValueError
        For an unknown profile or parameter name.
    """
    values = copy.deepcopy(_check_profile(profile))
    if names is not None:
        check_overrides(dict.fromkeys(names), tuple(values))
        values = {k: values[k] for k in names}
    check_overrides(overrides, tuple(values))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return values


# Globals every IPython kernel defines; they are not parameters.
_KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


def notebook_config(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve a notebook's parameters from its globals, rejecting unknown injected names.

    Call it in the cell right after the ``parameters`` cell, as
    ``cfg = notebook_config("02_classifier", globals())``. papermill injects ``-p`` values as
    plain assignments, so a misspelt name would otherwise be silently ignored; here every
    public, non-module global must be a profile parameter. Those globals are the names the
    parameters cell assigns (in its order) and those papermill injected; ``hrcam book`` injects
    only names that the parameters cell declares.

    Parameters
    ----------
    notebook
        The notebook's stem, a chapter of :data:`hrcam.book.chapters.CHAPTERS`.
    namespace
        The notebook's ``globals()``.

    Returns
    -------
    NotebookConfig
        A ``dict`` of ``profile``, ``run_dir`` and the notebook's parameters, resolved against
        the profile (a ``None`` value in the notebook means "the profile's value"); displayed
        in a notebook, it shows as a table without the run folder's absolute path.

    Raises
    ------
    ValueError
        If a global is not a declared parameter, or the profile is unknown.
    """
    chapter(notebook)  # an unknown notebook -> ValueError
    found = {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_")
        and k not in _KERNEL_NAMES
        and not isinstance(v, types.ModuleType)
        and not callable(v)
    }
    unknown = sorted(set(found) - {*_IMPLICIT, *_BASE})
    if unknown:
        raise ValueError(
            f"notebook {notebook} got unknown parameter(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(k for k in found if k not in unknown)}"
        )
    missing = [k for k in _IMPLICIT if k not in found]
    if missing:
        raise ValueError(f"notebook {notebook} has no {', '.join(missing)} in its parameters cell")
    profile = found["profile"]
    declared = [k for k in found if k not in _IMPLICIT]
    values = resolve(profile, declared, **{k: found[k] for k in declared})
    return NotebookConfig({"profile": profile, "run_dir": str(found["run_dir"]), **values})


def stage_dir(run_dir: str | Path, notebook: str, create: bool = False) -> Path:
    """Return the folder of the run folder that ``notebook`` writes (``run_dir/classifier`` ...).

    Parameters
    ----------
    run_dir
        The run folder shared by the notebooks.
    notebook
        A chapter's notebook stem (:data:`hrcam.book.chapters.STAGE_DIRS`).
    create
        Create the folder (and parents) if missing.
    """
    chapter(notebook)  # an unknown notebook -> ValueError
    path = Path(run_dir) / STAGE_DIRS[notebook]
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
