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
# # Beyond the paper
#
# The paper's high-res CAM is trained only to reconstruct the image; {doc}`05_evaluation`
# shows that on its own it hardly localizes. The paper names joint training of the classifier
# and the expansion network as future work (§6). This page takes a step in that direction
# that keeps the classifier frozen, and sets the result against everything a user could pick
# instead, on the same classifier and the same images:
#
# - a second expansion network, trained exactly like the one of {doc}`03_expansion` but with
#   a **consistency term** that ties its full-resolution $k$-channel map to the frozen
#   classifier's CAM features (its exact form is in {doc}`../method`); the classifier stays
#   frozen, so the low-res CAM and the predictions do not change;
# - every method of {doc}`05_evaluation`: the low-res CAM, the paper's high-res and refined
#   CAMs, the Grad-CAM family at the CAM head, and the high-resolution peers (LayerCAM fused
#   over stages, FullGrad, HiResCAM on a mid-resolution stage, the low-res CAM refined by a
#   dense CRF or by a guided filter).
#
# The consistency network's maps are scored by `hrcam.evaluate.evaluate` on the same first
# validation images as {doc}`05_evaluation`, with the same metrics, thresholds and bootstrap,
# and joined to the rows that notebook saved (`hrcam.studies.comparison`); every comparison between
# two methods is paired (same images, bootstrap 95 % CI of the mean difference). Nothing was
# tuned: the weight is fixed beforehand (below), and the page reports whatever it gives.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
seed = None
device = None
num_workers = None
expansion_epochs = None
batch_size = None
augment = None
resume = None
eval_every = None
eval_images = None
consistency_weight = None
max_eval_images = None
slow_metric_images = None
road_images = None
num_examples = None
evidence_images = None
oracle_smoothness = None
oracle_noise = None
consistency_variants = None
variant_expansion_epochs = None

# %%
from hrcam.book import notebook_config

cfg = notebook_config("09_beyond_the_paper", globals())
cfg

# %% [markdown]
# ## A consistency-trained expansion network
#
# The weight is `consistency_weight` of the profile. The value 1 is chosen before looking at
# any result, for scale: both terms of the loss are relative squared errors (the
# reconstruction MSE of unit-variance normalised pixels, and the pooled map's squared error
# divided by the CAM features' own energy), so at weight 1 neither term dominates by
# construction. The paper's setting is weight 0, which stays the default of
# `hrcam train expansion` and is what every other page uses. Everything else (data, frozen
# classifier of {doc}`02_classifier`, epochs, batch size, augmentation, seed) is what
# {doc}`03_expansion` uses.

# %%
# %matplotlib inline
import time

import numpy as np
from IPython.display import Markdown
from myst_nb import glue

from hrcam import plotting, studies
from hrcam.book import load_run, stage_dir
from hrcam.evaluate import save_outputs, seconds_table
from hrcam.models import load_checkpoint
from hrcam.models.device import resolve_device
from hrcam.studies import comparison, consistency
from hrcam.train import train_expansion
from hrcam.train.history import read_history

timings = {}
out_dir = stage_dir(cfg["run_dir"], "09_beyond_the_paper", create=True)
t0 = time.perf_counter()
trained = train_expansion(
    data_root=stage_dir(cfg["run_dir"], "01_dataset"),
    run_dir=out_dir / "expansion",
    classifier_checkpoint=stage_dir(cfg["run_dir"], "02_classifier") / "best.pt",
    epochs=cfg["expansion_epochs"],
    batch_size=cfg["batch_size"],
    augment=cfg["augment"],
    seed=cfg["seed"],
    device=cfg["device"],
    num_workers=cfg["num_workers"],
    resume=cfg["resume"],
    eval_every=cfg["eval_every"],
    eval_images=cfg["eval_images"],
    consistency_weight=cfg["consistency_weight"],
    progress=False,
)
timings["training (one-off)"] = time.perf_counter() - t0
print(trained.summary())

# %%
model, val = load_run(cfg["run_dir"], cfg["device"], require_masks=True)
ours = load_checkpoint(trained.best_checkpoint, map_location=resolve_device(cfg["device"])).model()
unchanged = studies.classifier_unchanged(
    stage_dir(cfg["run_dir"], "02_classifier") / "best.pt", ours, val,
    limit=cfg["max_eval_images"], batch_size=cfg["batch_size"],
)  # fmt: skip
save_outputs(out_dir, {"unchanged.json": unchanged})
paper_history = read_history(stage_dir(cfg["run_dir"], "03_expansion"))
last, paper_last = trained.history[-1], paper_history[-1]
Markdown(
    f"Training took {timings['training (one-off)']:.0f} s. Validation reconstruction: "
    f"{last['val_psnr']:.1f} dB PSNR with the consistency term against "
    f"{paper_last['val_psnr']:.1f} dB without it (notebook 03); final validation "
    f"consistency error {last.get('val_consistency', float('nan')):.3f} (0: the pooled map "
    "equals the CAM features, 1: a zero map). The classifier inside the new model against the "
    "checkpoint of notebook 02: largest logit difference "
    f"{unchanged['max_abs_logit_diff']:.1e} on {unchanged['num_images']} images, predictions "
    f"agree on {unchanged['prediction_agreement']:.0%}."
)

# %%
if cfg["eval_every"]:
    fig = plotting.epochs_figure(paper_history, trained.history, cfg["consistency_weight"])
else:
    fig = plotting.not_measured("eval_every is 0 in this profile: not recorded")
glue("fig-beyond-epochs", fig, display=False)

# %% [markdown]
# ```{glue:figure} fig-beyond-epochs
# :name: fig-beyond-epochs
#
# Left: PxAP of the four maps on the first `eval_images` validation images after each epoch,
# for the paper's expansion network (solid, W=0) and the consistency-trained one (dashed); the
# low-res CAM's lines coincide, because the classifier is frozen in both. Right: validation
# reconstruction PSNR of both, the price of the second loss term.
# ```

# %% [markdown]
# ## Every method on the same images
#
# The table joins the rows {doc}`05_evaluation` saved with those of the consistency
# network's three maps (its high-res CAM and both refined presets), measured here on the
# same images with the same settings; `hrcam.studies.comparison.combine` refuses to join evaluations
# that saw other images or explain other classes. Runtime is the wall time of each method's
# own call per image, forward pass included, measured in this run on this machine (the
# consistency rows in this notebook, the others in {doc}`05_evaluation`). The consistency
# network has the paper network's architecture, so its maps do the same work per image: a
# gap between the two networks' runtime rows is the machine's load at the two moments, not
# the method. Its training cost comes on top, once.

# %%
from hrcam.evaluate import evaluate

t0 = time.perf_counter()
result = evaluate(
    ours,
    val,
    methods=comparison.CONSISTENCY_METHODS,
    limit=cfg["max_eval_images"],
    batch_size=cfg["batch_size"],
    score_cam_limit=0,
    faithfulness_limit=cfg["slow_metric_images"],
    road_limit=cfg["road_images"],
    progress=False,
)
result.save(out_dir / "evaluation")
base = comparison.load_evaluation(stage_dir(cfg["run_dir"], "05_evaluation"))
comp = comparison.combine(base, result, cfg["consistency_weight"])
comp.save(out_dir)
timings["evaluation of the consistency maps"] = time.perf_counter() - t0
values = comparison.page_values(comp, cfg["consistency_weight"], seed=cfg["seed"])
glue("beyond-statement", Markdown(values["statement"]), display=False)
glue("beyond-consistency", Markdown(values["consistency_text"]), display=False)
Markdown(comp.to_markdown())

# %% [markdown]
# Faithfulness, from the same two evaluations: the classifier's confidence when only the
# map's region is kept, deletion and insertion curves, and ROAD, on the first images only
# (each costs many forward passes; `n` says how many), as in {doc}`05_evaluation`.

# %%
Markdown(comp.to_markdown(metrics=(
    "average_drop", "increase_in_confidence", "deletion_auc", "insertion_auc", "road_combined"
)))  # fmt: skip

# %% [markdown]
# **Which method localizes best, and at what cost?** {glue:md}`beyond-statement`
#
# **What the consistency term did.** {glue:md}`beyond-consistency`

# %%
fig = plotting.cost_figure(comp, "pxap", title=f"{comp.config['num_images']} validation images")
glue("fig-beyond-cost", fig, display=False)

# %% [markdown]
# ```{glue:figure} fig-beyond-cost
# :name: fig-beyond-cost
#
# Localization (PxAP, mean and 95 % bootstrap CI) against runtime per image (log scale) for
# every method; red: the consistency-trained network's maps. Up is better, left is cheaper.
# Score-CAM is measured on fewer images (a cost cap), so its interval is wider.
# ```

# %%
effect = comparison.consistency_effect(comp, "pxap", seed=cfg["seed"])
rows, labels = comparison.effect_rows(comp, effect)
glue(
    "fig-beyond-paired",
    plotting.paired_differences(
        rows, labels, title=f"{comp.config['num_images']} validation images, paired",
        xlabel="PxAP difference (same images)",
    ),
    display=False,
)  # fmt: skip

# %% [markdown]
# ```{glue:figure} fig-beyond-paired
# :name: fig-beyond-paired
#
# Paired PxAP differences with 95 % CIs: each map of the consistency-trained network minus
# the same map of the paper's network (top three), and minus the low-res CAM (bottom three).
# Green: above zero; red: below; grey: the interval contains zero.
# ```

# %% [markdown]
# ## Example maps at full resolution
#
# The first validation images, explained for the predicted class by every method: the maps
# are drawn at the image's own resolution, one screen pixel or more per map pixel and no
# smoothing, with the object's outline in white.

# %%
t0 = time.perf_counter()
batch = val.get_batch(np.arange(min(cfg["num_examples"], len(val))))
device = next(model.parameters()).device
images01 = batch["image"].to(device).float() / 255.0
targets = [int(t) for t in result.examples["target"][: len(images01)]]
# The methods 05_evaluation scored (the default list: not those that run only when named).
maps = comparison.example_maps(model, ours, images01, targets, base.methods)
timings["example maps"] = time.perf_counter() - t0
glue(
    "fig-beyond-examples",
    plotting.example_grid(
        batch["image"].permute(0, 2, 3, 1).numpy(), batch["mask"].numpy(), maps, comp.labels
    ),
    display=False,
)

# %% [markdown]
# ```{glue:figure} fig-beyond-examples
# :name: fig-beyond-examples
#
# The same images (columns) explained by every method (rows), each map min-max normalised and
# shown at full resolution with the object's outline; the last three rows are the
# consistency-trained network's maps.
# ```

# %% [markdown]
# ## The high-res-source ablation, with the consistency network as a source
#
# {doc}`07_evidence` feeds the same post-processing different high-res maps. Here the
# consistency network's high-res CAM is one more source (`hrcam.studies.evaluate_sources`
# with `high_res_models`), beside the paper network's, the image's luminance, noise and the
# oracle, on the same images; the low-res CAM, the ROI and all settings stay as they are.
# So is the paper network run in bfloat16 (source `bfloat16`, the next section).

# %%
import torch

from hrcam.models import with_expansion_dtype
from hrcam.studies import evaluate_sources, precision_effect, precision_text

model16 = with_expansion_dtype(model, torch.bfloat16)
t0 = time.perf_counter()
study = evaluate_sources(
    model,
    val,
    sources=["all"],
    limit=cfg["evidence_images"],
    batch_size=cfg["batch_size"],
    oracle_smoothness=cfg["oracle_smoothness"],
    oracle_noise=cfg["oracle_noise"],
    seed=cfg["seed"],
    progress=False,
    high_res_models={"consistency": ours, "bfloat16": model16},
    box_metrics=False,  # MaxBoxAccV2 costs ~45 ms per map, as in 07_evidence
)
study.save(out_dir / "sources")
timings["high-res-source ablation"] = time.perf_counter() - t0
values.update(consistency.ablation_values(study, seed=cfg["seed"]))
Markdown(study.to_markdown(metrics=("pxap", "mask_iou", "fallback_rate")))

# %%
refined = [m for m in study.methods if m.split("@")[0] in ("paper", "reference")]
glue(
    "fig-beyond-sources",
    plotting.paired_differences(
        [study.difference(m, "pxap") for m in refined],
        fallback=[study.value(m, "fallback_rate") for m in refined],
        title=f"{study.config['num_images']} validation images",
    ),
    display=False,
)
Markdown(
    "Consistency network minus paper network as the high-res map, refined PxAP on the same "
    f"images: `paper` preset {comparison.ci_text(values, 'abl_paper_cons_vs_exp')} "
    f"({values['abl_paper_cons_vs_exp_verdict']}); `reference` preset "
    f"{comparison.ci_text(values, 'abl_reference_cons_vs_exp')} "
    f"({values['abl_reference_cons_vs_exp_verdict']})."
)

# %% [markdown]
# ```{glue:figure} fig-beyond-sources
# :name: fig-beyond-sources
#
# Refined minus low-res CAM (PxAP, paired 95 % CI) for each preset and each high-res map,
# the consistency network's and the bfloat16 one's included, and how often each falls back to
# the low-res CAM.
# ```

# %% [markdown]
# ## The expansion network in bfloat16
#
# The expansion network costs nearly as much arithmetic as the classifier
# (`python benchmarks/explain.py` counts both networks' multiply-accumulates), so at float32 a
# refined CAM costs nearly two forward passes. `Explainer(precision="bfloat16-expansion")` (and
# `hrcam explain --precision bfloat16-expansion`) runs a bfloat16 copy of the expansion network
# (`hrcam.models.with_expansion_dtype`) after the unchanged float32 classifier: predictions and
# low-res CAMs stay exact, and only the high-res CAM, hence the refined CAM, changes. It is
# faster only where the hardware has bfloat16 dot products (AVX512-BF16 or AMX CPUs, recent
# GPUs); `python benchmarks/explain.py` times it beside the float32 pipeline and the peers
# (the README's Performance table). Here is what it changes, on the paper network of
# {doc}`03_expansion` and the images of the ablation above: how far the maps move, and the
# paired difference in PxAP against the float32 maps.

# %%
t0 = time.perf_counter()
precision = precision_effect(
    study, model, model16, val, limit=cfg["evidence_images"], batch_size=cfg["batch_size"],
    seed=cfg["seed"],
)  # fmt: skip
timings["bfloat16 check"] = time.perf_counter() - t0
values.update(precision)
Markdown(precision_text(precision))

# %% [markdown]
# ## On the data variants of the evidence chapter
#
# Each variant of {doc}`07_evidence` has its own data, classifier and expansion network. Here
# each listed variant gets a consistency-trained expansion network too, on its own frozen
# classifier, with the variant's training settings, and both networks' high-res CAMs go
# through the same post-processing on the variant's validation images. Each variant costs one
# more expansion training, so the profile decides which variants run
# (`consistency_variants`): the `demo` profile runs one, `thin_parts` (the variant built so
# that fine detail decides localization), to stay within its time budget; the `study`
# profile runs all four.

# %%
t0 = time.perf_counter()
variant_rows = []
for name in cfg["consistency_variants"]:
    _, rows_v = consistency.consistency_variant(
        stage_dir(cfg["run_dir"], "07_evidence") / "variants" / name,
        out_dir / "variants" / name,
        cfg["consistency_weight"],
        expansion_epochs=cfg["variant_expansion_epochs"],
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
        device=cfg["device"],
    )
    variant_rows += rows_v
save_outputs(out_dir, {"variants.json": variant_rows})
timings["data variants"] = time.perf_counter() - t0
if variant_rows:
    fig = plotting.paired_differences(
        variant_rows, [f"{r['variant']}: {r['config']}, {r['source']}" for r in variant_rows],
        fallback=[r["fallback"] for r in variant_rows],
        title="refined minus low-res CAM per variant, preset and high-res source",
    )  # fmt: skip
    text = consistency.variant_text(variant_rows)
else:
    fig = plotting.not_measured(f"not run in the {cfg['profile']} profile (see text)")
    text = (
        f"The {cfg['profile']} profile lists no variant: not measured here. "
        "`hrcam book --profile study` runs all four."
    )
glue("fig-beyond-variants", fig, display=False)
values["variants_text"] = text
values["variants"] = ", ".join(cfg["consistency_variants"]) or "none"
Markdown(text)

# %% [markdown]
# ```{glue:figure} fig-beyond-variants
# :name: fig-beyond-variants
#
# Refined minus low-res PxAP (paired 95 % CI) and fallback rate on each data variant, for
# both presets, with the variant's own expansion network (`expansion`) and with its
# consistency-trained one (`consistency`).
# ```

# %% [markdown]
# ## What this page costs
#
# Wall time of each part of this notebook in this run (seconds). The per-image runtime of
# every method is the last column of the table above.

# %%
values["train_seconds"] = timings["training (one-off)"]
values["val_psnr"] = float(last["val_psnr"])
values["paper_val_psnr"] = float(paper_last["val_psnr"])
values["max_logit_diff"] = float(unchanged["max_abs_logit_diff"])
path = comparison.save_values(values, out_dir)
save_outputs(out_dir, {"timings.json": timings})
Markdown(seconds_table(timings))
