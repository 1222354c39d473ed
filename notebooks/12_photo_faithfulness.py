# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Real photos: faithfulness and sanity checks
#
# Masks are one way to judge a map; the work on high-resolution CAMs since FeatUp (ICLR 2024)
# and JAFAR (NeurIPS 2025) judges CAM upsamplers on untouched photos without masks, by how the
# classifier's confidence reacts to the map (average drop A.D., average increase A.I., and
# ADCC, Poppi et al., CVPR-W 2021), and the sanity checks of Adebayo et al. (2018) ask whether a
# map changes at all when the classifier's weights are randomized. This matters here: the
# paper's high-res CAM comes from a network trained only to reconstruct the image, and
# {doc}`07_evidence` found that the image's own luminance serves the post-processing as well.
#
# - **Photos.** Untouched photographs of animals, offline: those of Debian's `gcompris-qt-data`
#   (read from its Qt resource files), `palapeli-data` and `opencv-doc`, and scikit-image's
#   `chelsea`, reviewed into `hrcam/resources/animal_photos.tsv` with package, license and
#   credit. The page shows a photo only where its license allows that, with its credit;
#   photos whose credit is unknown are measured, not shown. Centre crops at 224 px.
# - **Model.** The wrapped EfficientNet-Lite0 and the expansion network that
#   {doc}`10_real_cutouts` trained; every map explains the **predicted** class.
# - **Metrics.** A.D. / A.I. (Grad-CAM++), ADCC (harmonic mean of coherency, 1 − complexity and
#   1 − A.D. per image, averaged over photos, as the authors' code does), deletion / insertion
#   AUC (RISE), ROAD (grad-cam's implementation); the cascading randomization of the
#   classifier's blocks from the top (FC, `conv_head`, the seven backbone stages, the stem) with
#   Spearman rank correlation (signed and absolute) and SSIM against the trained model's map;
#   and the random-logit test (the map of a random other class).
# - **What is randomized.** Only the classifier. The expansion network keeps its trained
#   weights: it belongs to the explainer, not to the model being explained. It still reads the
#   randomized classifier's features, the high-res CAM applies the randomized FC weights to its
#   output, and the refined maps grow from the randomized low-res CAM.
#
# Quantus 0.6.0 has these tests, but installing it replaces OpenCV's contrib build (it pulls
# `opencv-python`), which removes `cv2.ximgproc`; the tests are therefore hrcam's own
# (`hrcam.metrics.adcc`, `hrcam.metrics.sanity`), checked against hand-computed cases.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/profiles.py).
seed = None
device = None
photo_faithfulness = None
photo_installed_only = None
photo_images = None
photo_random_blocks = None
photo_deletion_steps = None
photo_road_images = None
photo_skip_methods = None

# %%
from hrcam.profiles import notebook_config

cfg = notebook_config("12_photo_faithfulness", globals())
cfg

# %%
# %matplotlib inline
import time

import numpy as np
import torch
from IPython.display import Markdown
from myst_nb import glue

from hrcam import plotting
from hrcam.data.animal_photos import load_animal_photos, photo_list
from hrcam.methods import method_label, method_names, pixel_space_model
from hrcam.metrics import cascading_randomization
from hrcam.plotting.sanity import randomization_figure
from hrcam.profiles import stage_dir
from hrcam.studies import photo_faithfulness as pf
from hrcam.studies.cutouts import usable_methods

started, cpu_started, timings = time.perf_counter(), time.process_time(), {}
out_dir = stage_dir(cfg["run_dir"], "12_photo_faithfulness", create=True)
photos, pixels = load_animal_photos(
    224, limit=cfg["photo_images"], installed_only=cfg["photo_installed_only"]
)
images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
model, trained = pf.load_photo_model(cfg["run_dir"])
skip = list(cfg["photo_skip_methods"]) + ([] if trained else list(pf.EXPANSION_METHODS))
methods, skipped = usable_methods(model, method_names(), skip=skip)
if not trained:
    for name in pf.EXPANSION_METHODS:
        skipped[name] = "needs the expansion network of the cut-out chapter, skipped in this run"
labels = {m: method_label(m) for m in methods}
with torch.no_grad():
    targets = pixel_space_model(model.classifier)(images).argmax(1).tolist()
class_names = model.classifier.config["class_names"]
timings["set-up"] = time.perf_counter() - started
glue("pf-n", len(photos), display=False)
glue("pf-n-all", len(photo_list()), display=False)
glue("pf-skipped", Markdown("; ".join(f"`{k}`: {v}" for k, v in skipped.items()) or "none"),
     display=False)  # fmt: skip
glue("pf-expansion", Markdown(
    "the expansion network trained by the cut-out chapter" if trained else
    "**no trained expansion network: the cut-out chapter was skipped in this run, so the "
    "maps that need it (high-res CAM, both refined presets) are left out of this page**"),
    display=False)  # fmt: skip
print(f"{len(photos)} photos; methods: {methods}; not run: {skipped}")

# %% [markdown]
# This run measures {glue:text}`pf-n` of the {glue:text}`pf-n-all` reviewed photos with
# {glue:md}`pf-expansion`. Not run: {glue:md}`pf-skipped`.
#
# ## The photos and every method's maps
#
# The photos whose license allows showing them (the first ones of the run), each method's map
# for the predicted class (min-max normalised, at 224 px), and their credits.

# %%
t0 = time.perf_counter()
maps = pf.method_maps(model, methods, images, targets)
timings["maps"] = time.perf_counter() - t0
shown = [i for i, p in enumerate(photos) if p.show][:4]
if shown:
    from hrcam._shared import normalize_batch

    fig = plotting.example_grid(
        pixels[shown], np.zeros((len(shown), 224, 224), bool),
        {m: normalize_batch(v[shown]) for m, v in maps.items()}, labels,
    )  # fmt: skip
else:  # no photo of this run may be shown: the figure says so
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 1))
    fig.text(0.5, 0.5, "no photo of this run may be shown", ha="center", va="center")
glue("fig-pf-maps", fig, display=False)
credits = "; ".join(
    f"{p.key} (predicted: {class_names[targets[i]]}): {p.credit}, {p.license}, "
    f"`{p.package}`{', <' + p.source + '>' if p.source else ''}"
    for i, p in enumerate(photos) if i in shown
)  # fmt: skip
glue("pf-credits", Markdown(credits or "No photo of this run may be shown."), display=False)

# %% [markdown]
# ```{glue:figure} fig-pf-maps
# :name: fig-pf-maps
#
# Shown photos (columns) and every method's map of the predicted class (rows).
# ```
#
# **Credits** (left to right): {glue:md}`pf-credits`
#
# ## Faithfulness
#
# Mean over the photos with its 95 % bootstrap CI. A.D., complexity and deletion AUC: lower is
# better; A.I., ADCC, coherency, insertion AUC and ROAD (`(LeRF − MoRF) / 2`): higher is better.
# ROAD runs on the first photos only (`photo_road_images`; a dash when none).

# %%
t0 = time.perf_counter()
scores = pf.faithfulness_scores(
    model, methods, images, targets, maps, steps=cfg["photo_deletion_steps"],
    road_images=cfg["photo_road_images"], seed=cfg["seed"],
)  # fmt: skip
timings["faithfulness"] = time.perf_counter() - t0
table, table_values = pf.faithfulness_table(scores, labels, seed=cfg["seed"])
faith_text = pf.faithfulness_text(scores, labels, seed=cfg["seed"])
glue("pf-faith", Markdown(faith_text), display=False)
Markdown(table)

# %% [markdown]
# {glue:md}`pf-faith`
#
# ## Sanity checks: randomizing the classifier
#
# The classifier's blocks are re-initialised one after another from the top, cumulatively
# (`photo_random_blocks` of them in this run), and every map of the same photos and classes is
# compared with the trained model's. The random-logit test compares the map of the predicted
# class with the map of a random other class of the 1000.

# %%
t0 = time.perf_counter()
blocks = pf.lite0_blocks(model)[: cfg["photo_random_blocks"]]
curves = cascading_randomization(
    model, blocks, lambda m: pf.method_maps(m, methods, images, targets),
    seed=cfg["seed"], original=maps,
)  # fmt: skip
random_logit = pf.random_logit_similarity(
    model, methods, images, maps, targets, len(class_names), seed=cfg["seed"]
)
timings["sanity checks"] = time.perf_counter() - t0
measures = {"spearman": "Spearman", "spearman_abs": "Spearman of |map|", "ssim": "SSIM"}
curve_values = {k: pf.randomization_table(curves, k, seed=cfg["seed"]) for k in measures}
glue("fig-pf-randomization", randomization_figure(curve_values, curves.steps, labels, measures),
     display=False)  # fmt: skip
verdicts, statement = pf.sanity_verdicts(curves, random_logit, labels, seed=cfg["seed"])
glue("pf-statement", Markdown(statement), display=False)

# %% [markdown]
# ```{glue:figure} fig-pf-randomization
# :name: fig-pf-randomization
#
# Similarity of each method's map to its map under the trained classifier, against the number
# of blocks randomized from the top (mean over photos, 95 % bootstrap CI band). A map that
# explains the model falls towards 0; one that stays near 1 follows the image.
# ```
#
# ## What passes and what fails
#
# A method passes when, with every block of this run randomized, the 95 % CI of its mean
# Spearman correlation with the trained model's map lies below 0.5 (a threshold fixed before
# measuring), fails when it lies above, and is undecided otherwise.
#
# {glue:md}`pf-statement`

# %%
values = {
    "photos": len(photos),
    "expansion_trained": trained,
    "methods": methods,
    "skipped": skipped,
    "table": table_values,
    "randomization": {"steps": list(curves.steps), **curve_values},
    "random_logit_ssim": {m: float(v["ssim"].mean()) for m, v in random_logit.items()},
    "verdicts": verdicts,
    "statement": statement,
    "faithfulness_text": faith_text,
    "seconds": timings,
}
pf.save_photo_values(values, out_dir)
print(f"notebook wall time: {time.perf_counter() - started:.0f} s (CPU time of this kernel: "
      f"{time.process_time() - cpu_started:.0f} s); " + ", ".join(
    f"{k} {v:.0f} s" for k, v in timings.items()))  # fmt: skip
