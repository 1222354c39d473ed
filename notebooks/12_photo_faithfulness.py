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
#   {doc}`10_real_cutouts` measured; every map explains the **predicted** class among the 398
#   animal classes, for which its high-res CAM is exact.
# - **Metrics.** A.D. / A.I. (Grad-CAM++), ADCC (harmonic mean of coherency, 1 − complexity and
#   1 − A.D. per image, averaged over photos, as the authors' code does), deletion / insertion
#   AUC (RISE), ROAD (grad-cam's implementation); the cascading randomization of the
#   classifier's blocks from the top (FC, `conv_head`, the seven backbone stages, the stem) with
#   Spearman rank correlation and SSIM against the trained model's map; and the random-logit
#   test (the map of a random other class). Every hrcam map is min-max normalised to [0, 1],
#   so the Spearman correlation of absolute values that Adebayo et al. also report would
#   repeat the signed one; it is not shown.
# - **What is randomized.** Only the classifier. The expansion network keeps its trained
#   weights: it belongs to the explainer, not to the model being explained. It still reads the
#   randomized classifier's features, the high-res CAM applies the randomized FC weights to its
#   output, and the refined maps grow from the randomized low-res CAM. Once the FC is
#   re-initialized, the high-res CAM is the randomized class weights *projected* onto the span
#   of the trained animal classes' weights (the expansion network's map has one channel per
#   direction of that span): exact for the trained classifier, a projection after the FC is
#   randomized.
#
# Quantus 0.6.0 has these tests, but installing it replaces OpenCV's contrib build (it pulls
# `opencv-python`), which removes `cv2.ximgproc`; the tests are therefore hrcam's own
# (`hrcam.metrics.adcc`, `hrcam.metrics.sanity`), checked against hand-computed cases.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
seed = None
device = None
photo_faithfulness = None
photo_installed_only = None
photo_images = None
photo_random_blocks = None
photo_curve_steps = None
photo_deletion_steps = None
photo_road_images = None
photo_skip_methods = None

# %%
from IPython.display import Markdown

from hrcam.book import notebook_config
from hrcam.studies.photo_faithfulness import photo_settings_table

cfg = notebook_config("12_photo_faithfulness", globals())
Markdown(photo_settings_table(cfg))

# %%
# %matplotlib inline
import time

import numpy as np
import torch
from IPython.display import Markdown
from myst_nb import glue

from hrcam import plotting
from hrcam.book import stage_dir
from hrcam.data.animal_photos import load_animal_photos, photo_list
from hrcam.methods import method_label, method_names, pixel_space_model
from hrcam.metrics import NULL_QUANTILE, cascading_randomization, spread_steps
from hrcam.metrics.statistics import MIN_VERDICT_UNITS, TOO_FEW_TO_JUDGE
from hrcam.plotting.sanity import randomization_figure
from hrcam.studies import photo_faithfulness as pf
from hrcam.studies.cutouts import usable_methods
from hrcam.studies.learned_maps import scale_text

started, cpu_started, timings = time.perf_counter(), time.process_time(), {}
out_dir = stage_dir(cfg["run_dir"], "12_photo_faithfulness", create=True)
photos, pixels = load_animal_photos(
    224, limit=cfg["photo_images"], installed_only=cfg["photo_installed_only"]
)
images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
model, trained = pf.load_photo_model(cfg["run_dir"])
# The learned JBU that the upsampler chapter trained on this same classifier, if it ran.
model, upsampler_note = pf.attach_upsampler(model, cfg["run_dir"], trained)
skip = list(cfg["photo_skip_methods"]) + ([] if trained else list(pf.EXPANSION_METHODS))
methods, skipped = usable_methods(model, method_names(), skip=skip)
if not trained:
    for name in pf.EXPANSION_METHODS:
        skipped[name] = "needs the expansion network of the cut-out chapter, skipped in this run"
if upsampler_note:
    skipped["featup_jbu"] = upsampler_note
labels = {m: method_label(m) for m in methods}
# The predicted class among the 398 animal classes: the high-res CAM is exact for those
# (chapter 10), and every photo here shows an animal.
ANIMALS = 398
with torch.no_grad():
    targets = pixel_space_model(model.classifier)(images)[:, :ANIMALS].argmax(1).tolist()
class_names = model.classifier.config["class_names"]
glue("pf-basis", model.expansion.describe_basis(model.classifier.fc.weight), display=False)
timings["set-up"] = time.perf_counter() - started
glue("pf-n", len(photos), display=False)
glue("pf-n-all", len(photo_list()), display=False)
glue("pf-min-units", MIN_VERDICT_UNITS, display=False)
glue("pf-too-few", TOO_FEW_TO_JUDGE, display=False)
glue("pf-null-pct", round(100 * NULL_QUANTILE), display=False)
glue("pf-skipped", Markdown(pf.skipped_table(skipped)), display=False)
glue("pf-upsampler", Markdown(
    "The learned JBU (`featup_jbu`) is the one the upsampler chapter (chapter 11) measured on "
    "this same classifier." if "featup_jbu" in methods else
    f"The learned JBU (`featup_jbu`) is not measured here: {upsampler_note}."),
    display=False)  # fmt: skip
exp_facts, jbu_facts = pf.measured_facts(cfg["run_dir"])
scale = scale_text(len(photos), len(photos), "photos", {
    "expansion network": exp_facts if trained else None,
    "learned JBU": jbu_facts if "featup_jbu" in methods else None})
glue("pf-scale", scale, display=False)
glue("pf-expansion", Markdown(
    "the expansion network that the cut-out chapter measured" if trained else
    "**no trained expansion network: the cut-out chapter was skipped in this run, so the "
    "maps that need it (high-res CAM, both refined presets) are left out of this page**"),
    display=False)  # fmt: skip
print(f"{len(photos)} photos, {len(methods)} methods measured, {len(skipped)} not run")

# %% [markdown]
# This run measures {glue:text}`pf-n` of the {glue:text}`pf-n-all` reviewed photos with
# {glue:md}`pf-expansion` (its high-res map is {glue:text}`pf-basis`).
# {glue:md}`pf-upsampler` Below {glue:text}`pf-min-units` photos the page gives the numbers
# and "{glue:text}`pf-too-few`": no better or worse, no pass or fail, no
# ranking. The methods not run, and why:
#
# ```{glue:md} pf-skipped
# :format: gfm
# ```
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
    from hrcam.core.maps import normalize_batch

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
# Mean over the photos with its 95 % bootstrap CI (the mean alone from one photo). A.D.,
# complexity and deletion AUC: lower is better; A.I., ADCC, coherency, insertion AUC and ROAD
# (`(LeRF − MoRF) / 2`): higher is better. ROAD runs on the first photos only
# (`photo_road_images`; a dash when none).
#
# ```{glue:md} pf-table-confidence
# :format: gfm
# ```
#
# ```{glue:md} pf-table-curves
# :format: gfm
# ```

# %%
t0 = time.perf_counter()
scores = pf.faithfulness_scores(
    model, methods, images, targets, maps, steps=cfg["photo_deletion_steps"],
    road_images=cfg["photo_road_images"], seed=cfg["seed"],
)  # fmt: skip
timings["faithfulness"] = time.perf_counter() - t0
tables, table_values = pf.faithfulness_tables(scores, labels, seed=cfg["seed"])
glue("pf-table-confidence", Markdown(tables[0]), display=False)
glue("pf-table-curves", Markdown(tables[1]), display=False)
faith_text = pf.faithfulness_text(scores, labels, seed=cfg["seed"])
glue("pf-faith", Markdown(faith_text), display=False)

# %% [markdown]
# {glue:md}`pf-faith`
#
# ## Sanity checks: randomizing the classifier
#
# The classifier's blocks are re-initialised one after another from the top, cumulatively
# ({glue:text}`pf-blocks` of its {glue:text}`pf-blocks-all` in this run), and every map of the
# same photos and classes is compared with the trained model's, after
# {glue:text}`pf-curve-steps` of those steps (evenly spread, the last one included: each
# costs a new set of maps). The random-logit test compares the map of the predicted class
# with the map of a random other class of the {glue:text}`pf-classes`.

# %%
t0 = time.perf_counter()
all_blocks = pf.lite0_blocks(model)
blocks = all_blocks[: cfg["photo_random_blocks"]]
curves = cascading_randomization(
    model, blocks, lambda m: pf.method_maps(m, methods, images, targets),
    seed=cfg["seed"], original=maps,
    explain_at=spread_steps(len(blocks), cfg["photo_curve_steps"]),
)  # fmt: skip
random_logit = pf.random_logit_similarity(
    model, methods, images, maps, targets, ANIMALS, seed=cfg["seed"]
)
timings["sanity checks"] = time.perf_counter() - t0
outcomes = pf.sanity_outcomes(curves, random_logit, maps, len(all_blocks), seed=cfg["seed"])
null = {m: o.randomization.threshold for m, o in outcomes.items()}
measures = {"spearman": "Spearman", "ssim": "SSIM"}
curve_values = {k: pf.randomization_table(curves, k, seed=cfg["seed"]) for k in measures}
glue("fig-pf-randomization",
     randomization_figure(curve_values, curves.steps, labels, measures, null=null),
     display=False)  # fmt: skip
statement = pf.sanity_statement(outcomes, labels, curves.randomized, len(all_blocks))
glue("pf-statement", Markdown(statement), display=False)
glue("pf-sanity-table", Markdown(pf.sanity_table(outcomes, labels, curves.steps[-1])),
     display=False)  # fmt: skip
glue("pf-blocks", len(blocks), display=False)
glue("pf-blocks-all", len(all_blocks), display=False)
glue("pf-curve-steps", len(curves.steps), display=False)
glue("pf-classes", len(class_names), display=False)
glue("pf-grid", images.shape[-1] // int(model.classifier.stride), display=False)

# %% [markdown]
# ```{glue:figure} fig-pf-randomization
# :name: fig-pf-randomization
#
# Similarity of each method's map to its map under the trained classifier, against the blocks
# randomized from the top (mean over photos, 95 % bootstrap CI band). A map that explains the
# model falls to the level of maps of unrelated photos; one that stays near 1 follows the
# image. Right of the Spearman curves, in each method's colour: its null threshold (below).
# ```
#
# ## What passes and what fails
#
# Two unrelated maps do not correlate at 0: smooth maps upsampled from Lite0's
# {glue:text}`pf-grid` × {glue:text}`pf-grid` grid of CAM cells share a centre bias and follow
# each photo's structure. So each method is judged against its own **null**, the Spearman
# correlation between its maps of *different* photos under the trained classifier (every pair
# of photos). The cascading test needs every block randomized.
# A method **fails** when the 95 % CI of its mean Spearman correlation with the trained
# model's map lies wholly above the null's {glue:text}`pf-null-pct`th percentile (the map
# stays closer to the trained model's than maps of unrelated photos are to each other),
# **passes** when it lies wholly below, and is **undecided** otherwise. The random-logit test
# reads the same way, on the correlation between the maps of the predicted class and of a
# random other class, against the same null. Below {glue:text}`pf-min-units` photos there is
# no verdict.
#
# {glue:md}`pf-statement`
#
# **The scale of these verdicts:** {glue:text}`pf-scale`.
#
# ```{glue:md} pf-sanity-table
# :format: gfm
# ```

# %%
values = {
    "photos": len(photos),
    "scale": scale,
    "expansion_trained": trained,
    "methods": methods,
    "skipped": skipped,
    "table": table_values,
    "randomization": {
        "steps": list(curves.steps),
        "randomized": list(curves.randomized),
        **curve_values,
    },
    "random_logit_ssim": {m: o.random_logit_ssim for m, o in outcomes.items()},
    "sanity": {
        m: {"randomization": vars(o.randomization), "random_logit": vars(o.random_logit)}
        for m, o in outcomes.items()
    },
    "verdicts": {
        m: {"randomization": o.randomization.verdict, "random_logit": o.random_logit.verdict}
        for m, o in outcomes.items()
    },
    "statement": statement,
    "faithfulness_text": faith_text,
    "seconds": timings,
}
pf.save_photo_values(values, out_dir)
print(f"notebook wall time: {time.perf_counter() - started:.0f} s (CPU time of this kernel: "
      f"{time.process_time() - cpu_started:.0f} s); " + ", ".join(
    f"{k} {v:.0f} s" for k, v in timings.items()))  # fmt: skip
