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
# # Real animals, measured
#
# The chapters before this one measure on synthetic scenes, where a 7 × 7 CAM is already
# good. The paper's setting is photographs of animals and a real ImageNet classifier
# ({cite:t}`tagaris2019hrcam`, §4). This chapter asks the paper's question there, with exact
# masks, offline:
#
# - **Objects.** Photographs of real animals cut out with an alpha channel: the photographic
#   animal stamps of Debian's `tuxpaint-stamps-default` (GPL-2), reviewed one by one into
#   `hrcam/resources/tuxpaint_stamps.tsv` (its ImageNet class among the paper's 398 animal
#   classes, or none; photo or drawing; drawings are never used).
# - **Backgrounds.** Random crops of natural photographs without animals from four other Debian
#   packages (`hrcam/resources/cutout_backgrounds.tsv`, each with its license).
# - **Masks.** The pasted alpha above 0.5: exact by construction.
# - **Splits.** Train and validation share no stamp and no background photograph.
# - **Classifier.** The real EfficientNet-Lite0 of {doc}`08_real_photos`, frozen; CAMs are
#   computed for the ground-truth class (the weakly supervised localization convention), and
#   the paper's maps once more for the predicted class.
# - **Expansion network.** Trained unsupervised (§4.3) on the training split's images, with
#   the same wrapper, training code and checkpoints as everywhere else.
#
# Nothing below was tuned: the data options are the builder's defaults, the post-processing is
# the paper's, and the methods are the ones {doc}`09_beyond_the_paper` ranks.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
seed = None
device = None
real_cutouts = None
cutout_stamps = None
cutout_backgrounds = None
cutout_num_train = None
cutout_num_val = None
cutout_image_size = None
cutout_epochs = None
cutout_batch_size = None
cutout_eval_images = None
cutout_feather = None
cutout_skip_methods = None
learned_maps = None

# %%
from hrcam.book import notebook_config

cfg = notebook_config("10_real_cutouts", globals())
cfg

# %%
# %matplotlib inline
import time

import numpy as np
from IPython.display import Markdown
from myst_nb import glue

from hrcam import plotting
from hrcam.book import stage_dir
from hrcam.core.tables import ci_text
from hrcam.data import build_dataset
from hrcam.data.cutouts import background_list, stamp_list
from hrcam.data.store import StoreDataset
from hrcam.evaluate import evaluate
from hrcam.evaluate.accuracy import topk_accuracy
from hrcam.methods import method_names
from hrcam.models import save_checkpoint
from hrcam.models.lite0 import efficientnet_lite0
from hrcam.models.shipped import read_card
from hrcam.studies import comparison, evaluate_sources
from hrcam.studies.cutouts import (
    PAPER_MAPS,
    cutout_units,
    cutout_values,
    save_cutout_values,
    usable_methods,
)
from hrcam.studies.learned_maps import (
    SHIPPED_EXPANSION,
    checkpoint_facts,
    measured_expansion,
    scale_text,
)
from hrcam.studies.learning import seed_caveats
from hrcam.train import train_expansion

started, timings = time.perf_counter(), {}
out_dir = stage_dir(cfg["run_dir"], "10_real_cutouts", create=True)
store_options = {
    "stamps": cfg["cutout_stamps"],
    "backgrounds": cfg["cutout_backgrounds"],
    "num_train": cfg["cutout_num_train"],
    "num_val": cfg["cutout_num_val"],
    "image_size": cfg["cutout_image_size"],
    "seed": cfg["seed"],
    "progress": False,
}
store = build_dataset("cutouts", out_dir / "store", **store_options).info
val = StoreDataset(store.root, "val")
timings["data"] = time.perf_counter() - started
print(f"{store.count('train')} training and {store.count('val')} validation images, "
      f"{store.image_size} px; stamps (train / val): "
      f"{len(store.source['stamps']['train'])} / {len(store.source['stamps']['val'])}; "
      f"background photos: {len(store.source['backgrounds']['train'])} / "
      f"{len(store.source['backgrounds']['val'])}")  # fmt: skip

# %%
batch = val.get_batch(np.arange(min(12, len(val))))
glue(
    "fig-cutout-samples",
    plotting.dataset_grid(
        batch["image"].permute(0, 2, 3, 1).numpy(), batch["label"].numpy(), store.classes,
        masks=batch["mask"].numpy(), ncols=6,
    ),
    display=False,
)  # fmt: skip
glue("cut-mask-area", float(val.get_batch(np.arange(len(val)))["mask"].float().mean()),
     display=False)  # fmt: skip

# %% [markdown]
# ```{glue:figure} fig-cutout-samples
# :name: fig-cutout-samples
#
# The first validation images with the exact mask outlined and the ground-truth ImageNet class.
# ```
#
# The object covers {glue:text}`cut-mask-area:.1%` of a validation image on average.
#
# ## How well the real classifier knows these animals
#
# Top-1 and top-5 accuracy of EfficientNet-Lite0 on the validation split, over the paper's 398
# animal classes (its other 602 logits ignored).

# %%
classifier = efficientnet_lite0().eval()
accuracy = topk_accuracy(classifier, val, num_classes=398)
glue("cut-top1", accuracy["top1"], display=False)
glue("cut-top5", accuracy["top5"], display=False)
print(f"top-1 {accuracy['top1']:.3f}, top-5 {accuracy['top5']:.3f} on {accuracy['n']} images")

# %% [markdown]
# Top-1 {glue:text}`cut-top1:.3f`, top-5 {glue:text}`cut-top5:.3f`.
#
# ## The expansion network for this classifier
#
# Trained to reconstruct the training split's images from the frozen classifier's features
# (§3.2), with the paper's optimizer; the validation loss is on the validation split's images,
# which share no stamp and no background photograph with the training images. This is the
# walk-through: how the network is trained, on the few images a chapter can afford.

# %%
t0 = time.perf_counter()
clf_path = save_checkpoint(out_dir / "lite0_classifier.pt", classifier, metadata={})
trained = train_expansion(
    data_root=store.root,
    run_dir=out_dir / "expansion",
    classifier_checkpoint=clf_path,
    epochs=cfg["cutout_epochs"],
    batch_size=cfg["cutout_batch_size"],
    device=cfg["device"],
    seed=cfg["seed"],
    cam_classes="imagenet-animals",
    progress=False,
    resume=False,
)
timings["expansion training"] = time.perf_counter() - t0
print(trained.summary())
last = trained.history[-1]
glue("cut-psnr", float(last["val_psnr"]), display=False)
glue("cut-train-seconds", timings["expansion training"], display=False)
glue("cut-walk-images", int(last["global_step"]) * cfg["cutout_batch_size"], display=False)
model, maps_facts = measured_expansion(cfg["learned_maps"], classifier, trained,
                                       cfg["cutout_batch_size"])  # fmt: skip
# Chapter 12 explains the same model: it reads it from here.
save_checkpoint(out_dir / "measured.pt", model, metadata={}, extra=checkpoint_facts(maps_facts))
glue("cut-maps", Markdown(
    (f"the shipped network (`hrcam/weights/{maps_facts['card']['name']}.pt`, trained on "
     f"{maps_facts['images_seen']:,} images, val PSNR {maps_facts['val_psnr']:.1f} dB; its "
     "model card gives the command and data)") if maps_facts["card"] else
    (f"the walk-through network above ({maps_facts['images_seen']:,} images seen, val PSNR "
     f"{maps_facts['val_psnr']:.1f} dB)")), display=False)  # fmt: skip
glue("cut-basis", maps_facts["basis"], display=False)

# %% [markdown]
# Validation PSNR after the walk-through's {glue:text}`cut-walk-images` images:
# {glue:text}`cut-psnr:.1f` dB ({glue:text}`cut-train-seconds:.0f` s of training on this
# machine).
#
# **The network every measurement below uses:** {glue:md}`cut-maps`. Its high-res map is
# {glue:text}`cut-basis`.
#
# ## Every method on the same images
#
# Each method explains the ground-truth class of the first validation images; every map is
# scored against the exact mask with the same metrics, thresholds and bootstrap as
# {doc}`05_evaluation`. This chapter measures localization; faithfulness without masks is
# measured on untouched photos elsewhere. Methods that cannot run on this model, or that this
# profile leaves out for their cost (`cutout_skip_methods`), are listed first.

# %%
methods, skipped = usable_methods(model, method_names(), skip=cfg["cutout_skip_methods"])
# A short table, not a run-on sentence: the reasons are long, and hold commands.
glue("cut_skipped", Markdown("| Method | Why it did not run |\n|---|---|\n" + "\n".join(
    f"| `{k}` | {v} |" for k, v in skipped.items()) if skipped else "None."),
    display=False)  # fmt: skip
print("\n".join(f"not run: {k}: {v}" for k, v in skipped.items()))
t0 = time.perf_counter()
common = {"limit": cfg["cutout_eval_images"], "batch_size": cfg["cutout_batch_size"],
          "score_cam_limit": cfg["cutout_eval_images"], "progress": False,
          "seed": cfg["seed"]}  # fmt: skip
result = evaluate(
    model, val, methods=methods, target="label",
    faithfulness_limit=0, road_limit=0, **common,
)  # fmt: skip
result.save(out_dir / "evaluation")
predicted = evaluate(model, val, methods=PAPER_MAPS, target="predicted",
                     faithfulness_limit=0, road_limit=0, keep_examples=0, **common)  # fmt: skip
predicted.save(out_dir / "evaluation_predicted")
timings["evaluation"] = time.perf_counter() - t0
# Images that show the same stamp are not independent: every interval resamples stamps.
units = cutout_units(store.root, "val")
comp = comparison.load_evaluation(out_dir / "evaluation").resampled(
    units["stamps"], "stamps", seed=cfg["seed"])  # fmt: skip
comp_predicted = comparison.load_evaluation(out_dir / "evaluation_predicted").resampled(
    units["stamps"], "stamps", seed=cfg["seed"])  # fmt: skip
Markdown(comp.to_markdown())

# %% [markdown]
# ## The high-res-source ablation, and what the paste edge gives away
#
# The same post-processing fed different high-res maps (as in {doc}`07_evidence`): the
# expansion network's high-res CAM, the image's luminance, noise, and an oracle made from the
# mask. A pasted object has an artificial boundary; if the image itself, used as the high-res
# map, helps the refinement, part of that help may be the paste edge. So the ablation runs
# twice on the same validation images: as built, and rebuilt with a feathered paste (the
# blend's edge softened by a Gaussian of `cutout_feather` px, the mask unchanged).

# %%
t0 = time.perf_counter()
sources = {"limit": cfg["cutout_eval_images"], "batch_size": cfg["cutout_batch_size"],
           "target": "label", "seed": cfg["seed"], "progress": False}  # fmt: skip
hard = evaluate_sources(model, val, units=units["stamps"], **sources)
feathered_store = build_dataset(
    "cutouts", out_dir / "store_feathered", **{**store_options, "feather": cfg["cutout_feather"]}
).info
feathered = evaluate_sources(
    model, StoreDataset(feathered_store.root, "val"), sources=("image",),
    units=cutout_units(feathered_store.root, "val")["stamps"], **sources
)  # fmt: skip
timings["source ablation"] = time.perf_counter() - t0
values = cutout_values(comp, comp_predicted, hard, feathered, accuracy, seed=cfg["seed"],
                       units=units)  # fmt: skip
save_cutout_values({**values, "seconds": timings}, out_dir)
for key in ("cut_best", "cut_best_box", "cut_paste_edge", "cut_widths"):
    glue(key, Markdown(values[key]), display=False)
values["cut_scale"] = scale_text(values["cut_images"], values["cut_stamps"], "stamps",
                                 {"expansion network": maps_facts})  # fmt: skip
glue("cut_scale", values["cut_scale"], display=False)
# A verdict whose sign differs between the shipped network's training seeds says so.
exp_card = read_card(SHIPPED_EXPANSION)
glue("cut_seed_caveat", seed_caveats([
    (exp_card, f"refined_{p}_minus_low_res", f"Refined ({p} preset) minus low-res",
     maps_facts["source"]) for p in ("paper", "reference")]), display=False)  # fmt: skip
for key in ("cut_images", "cut_stamps", "cut_backgrounds"):
    glue(key, values[key], display=False)
for key in ("cut_refined_paper_verdict", "cut_refined_reference_verdict"):
    glue(key, Markdown(values[key]), display=False)
for key in ("cut_refined_paper_diff", "cut_refined_reference_diff",
            "cut_pred_refined_paper_diff", "cut_pred_refined_reference_diff"):  # fmt: skip
    glue(key, Markdown(ci_text(values, key)), display=False)
Markdown(hard.to_markdown())

# %% [markdown]
# **The paste edge:** {glue:md}`cut_paste_edge`
#
# ## What this says about the paper on natural images
#
# **The sample.** {glue:text}`cut_images` scored images, cut from {glue:text}`cut_stamps`
# stamps and {glue:text}`cut_backgrounds` background photos. PxAP is Choe et al.'s data-set
# statistic (pixel counts summed over the images), and every interval on this page resamples
# *stamps*, the object the map must find, because images of one stamp are not independent.
# {glue:md}`cut_widths`
#
# **Refined minus low-res CAM** (PxAP, paired on the same images, 95 % CI over stamps),
# ground-truth class: `paper` preset {glue:md}`cut_refined_paper_diff`, verdict:
# {glue:md}`cut_refined_paper_verdict`; `reference` preset
# {glue:md}`cut_refined_reference_diff`, verdict: {glue:md}`cut_refined_reference_verdict`.
# {glue:text}`cut_seed_caveat`
# For the predicted class instead: `paper` {glue:md}`cut_pred_refined_paper_diff`, `reference`
# {glue:md}`cut_pred_refined_reference_diff`.
#
# **The scale of these verdicts:** {glue:text}`cut_scale`. How they depend on training, and
# how much they move between training runs, is measured in the next section.
#
# **Which method localizes best, and at what cost?** {glue:md}`cut_best`
#
# {glue:md}`cut_best_box`
#
# Not run on this model:
#
# ```{glue:md} cut_skipped
# :format: gfm
# ```
#
# ## Trained until more training stops changing the answer?
#
# The shipped network was trained once on cut-outs made by the same builder (stamps and
# background photos disjoint from the validation split's), snapshotted each time the images it
# had seen doubled; each snapshot is scored like the measurements above (its val PSNR, the raw
# high-res CAM's PxAP, and refined minus low-res PxAP with 95 % intervals over stamps). Two
# more seeds were trained to smaller scales to measure the spread between training runs.

# %%
from hrcam.studies.learned_maps import SHIPPED_UPSAMPLER
from hrcam.studies.learning import curve_summary, seed_spread_text

jbu_card = read_card(SHIPPED_UPSAMPLER)
glue("fig-learning-curves", plotting.learning_curve_figure(
    {"expansion network (paper)": exp_card["curve"],
     "learned JBU (FeatUp)": jbu_card["curve"]}), display=False)  # fmt: skip
glue("cut_curve_expansion", curve_summary(exp_card), display=False)
glue("cut_curve_jbu", curve_summary(jbu_card), display=False)
glue("cut_seed_spread", seed_spread_text(exp_card, {
    "refined_paper_minus_low_res": "refined (paper preset) minus low-res",
    "refined_reference_minus_low_res": "refined (reference preset) minus low-res"}),
    display=False)  # fmt: skip
glue("cut_seed_spread_jbu", seed_spread_text(jbu_card, {
    "featup_jbu_minus_low_res": "learned JBU minus low-res"}), display=False)  # fmt: skip
print(curve_summary(exp_card), curve_summary(jbu_card), sep="\n")

# %% [markdown]
# ```{glue:figure} fig-learning-curves
# :name: fig-learning-curves
#
# Learning curves of the shipped learned maps against training images seen (log scale). Left:
# each map's own training quality (the expansion network's val PSNR with its raw high-res
# CAM's PxAP; the learned JBU's validation loss); right: PxAP differences against the low-res
# CAM on the same validation images, 95 % intervals over stamps.
# ```
#
# **Expansion network.** {glue:text}`cut_curve_expansion` {glue:text}`cut_seed_spread`
#
# **Learned JBU** ({doc}`11_upsamplers`). {glue:text}`cut_curve_jbu`
# {glue:text}`cut_seed_spread_jbu`
#
# ## What each method costs

# %%
glue("fig-cutout-cost", plotting.cost_figure(
    comp, "pxap", title=f"{comp.config['num_images']} real cut-outs"), display=False)  # fmt: skip

# %% [markdown]
# ```{glue:figure} fig-cutout-cost
# :name: fig-cutout-cost
#
# Localization (PxAP, mean and 95 % bootstrap CI) against runtime per image (log scale) for
# every method on the real cut-outs. Up is better, left is cheaper.
# ```

# %%
names = list(result.examples["target"][:4])
batch = val.get_batch(np.arange(min(4, len(val))))
images01 = batch["image"].float() / 255.0
maps = comparison.example_maps(model, None, images01, [int(t) for t in names], methods)
glue(
    "fig-cutout-examples",
    plotting.example_grid(
        batch["image"].permute(0, 2, 3, 1).numpy(), batch["mask"].numpy(), maps, comp.labels
    ),
    display=False,
)

# %% [markdown]
# ```{glue:figure} fig-cutout-examples
# :name: fig-cutout-examples
#
# The first validation images (columns) explained for their ground-truth class by every method
# (rows), each map min-max normalised and shown at full resolution with the object's outline.
# ```
#
# ## Credits
#
# The animal photographs are stamps of Tux Paint (`tuxpaint-stamps-default`, GPL-2, by the
# Tux Paint contributors). The backgrounds, with their packages and licenses:

# %%
Markdown(
    "| Photo | Package | License |\n|---|---|---|\n"
    + "\n".join(f"| {b.description} | `{b.package}` | {b.license} |" for b in background_list())
    + f"\n\n{len(stamp_list())} photographic stamps are reviewed; "
    f"{sum(s.imagenet is not None for s in stamp_list())} have an ImageNet animal class."
)

# %% [markdown]
# ## The cost–quality front
#
# A user picks a method by what it gives for what it costs. Each method of the table above is
# placed by its PxAP on these images against its runtime per image (its own forward pass
# included, measured in this run); a method is on the front when no other is both as cheap
# and as good, and better in one. The paper's maps are the red-edged squares.

# %%
from hrcam.evaluate.front import pareto_front

front = pareto_front(comp.table, quality="pxap", cost="runtime_ms")
glue("cut_front", Markdown(", ".join(f"{comp.labels[m]} (`{m}`)" for m in front)),
     display=False)  # fmt: skip
glue("fig-cutout-front", plotting.front_figure(
    comp.table, comp.labels, title=f"{comp.config['num_images']} real cut-outs"),
    display=False)  # fmt: skip
print("on the front, cheapest first:", ", ".join(front))

# %% [markdown]
# ```{glue:figure} fig-cutout-front
# :name: fig-cutout-front
#
# PxAP (mean) against runtime per image (log scale) of every method on the real cut-outs; the
# line is the cost–quality front, its methods named; the paper's maps are named in red.
# ```
#
# On the front, cheapest first: {glue:md}`cut_front`.
#
# **Joint bilateral upsampling against the two filters.** `cam_jbu` computes each pixel from
# the 5 × 5 low-res samples around it (Kopf et al. 2007), `cam_bilateral` filters the bilinear
# CAM at full resolution with OpenCV's joint bilateral filter (about 4,000 neighbours per pixel
# at stride 32) and `cam_guided` with the guided filter. The same images; each difference is
# paired, the data-set metrics recomputed for both maps on every resample of the stamps:

# %%
from hrcam.studies.bilateral import jbu_comparison

jbu = jbu_comparison(comp, seed=cfg["seed"])
Markdown(jbu["text"])

# %%
# The claims page reads the front from the chapter's values (rewritten whole, atomically).
_ = save_cutout_values({**values, "seconds": timings, "front": front}, out_dir)

# %%
print(f"notebook wall time: {time.perf_counter() - started:.0f} s; " + ", ".join(
    f"{k} {v:.0f} s" for k, v in timings.items()))  # fmt: skip
