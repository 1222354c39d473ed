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
# # Does the refined CAM beat the low-res CAM? When, and why?
#
# {doc}`05_evaluation` scores the refined CAM against the resized low-res CAM on the
# validation images. This chapter takes the pipeline apart to find out *which part* decides
# that result. Every experiment keeps the classifier, the low-res CAM, the focal points, the
# ROI and the scoring exactly as in {doc}`05_evaluation` (PxAP and best-threshold mask IoU,
# means with 95 % percentile-bootstrap intervals over images), and changes one thing:
#
# 1. **the high-res map** fed to the post-processing: the expansion network's high-res CAM,
#    the image's own luminance, uniform noise, or an *oracle* built from the ground-truth mask
#    (blurred, with noise mixed in), which shows the most the post-processing can do;
# 2. **the growth bounds and the §5 size limits** of region growing;
# 3. **the data**: variants of the synthetic set in which high-resolution detail should
#    matter more (thin parts, plain backgrounds, small objects).
#
# A per-image failure analysis then says at which stage each refinement goes wrong. Every
# comparison with the low-res CAM is *paired*: the same images, the mean per-image difference,
# and a bootstrap 95 % CI of that difference. The page {doc}`13_claims` collects the answers.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
seed = None
device = None
batch_size = None
evidence_images = None
oracle_smoothness = None
oracle_noise = None
section5_images = None
variants = None
variant_num_train = None
variant_num_val = None
variant_classifier_epochs = None
variant_expansion_epochs = None

# %%
from hrcam.book import notebook_config

cfg = notebook_config("07_evidence", globals())
cfg

# %%
# %matplotlib inline
import time

from IPython.display import Markdown
from myst_nb import glue

from hrcam import methods, plotting, studies
from hrcam.book import load_run, stage_dir
from hrcam.evaluate import save_outputs, seconds_table
from hrcam.evaluate.report import table_header, table_row

timings = {}
t0 = time.perf_counter()
out_dir = stage_dir(cfg["run_dir"], "07_evidence", create=True)
model, val = load_run(cfg["run_dir"], cfg["device"], require_masks=True)
cams = methods.compute_cams(model, val, cfg["evidence_images"], cfg["batch_size"])
study = studies.refine_study(
    cams,
    sources=studies.SOURCES,
    oracle_smoothness=cfg["oracle_smoothness"],
    oracle_noise=cfg["oracle_noise"],
    seed=cfg["seed"],
    box_metrics=False,  # MaxBoxAccV2 costs ~45 ms per map; `hrcam evaluate --sources` has it
)
study.save(out_dir / "sources")
timings["sources"] = time.perf_counter() - t0
print(f"{len(cams)} validation images, classifier accuracy {cams.accuracy:.3f}")

# %% [markdown]
# ## Which part carries the result? The high-res-source ablation
#
# Each row below is the post-processing of one preset fed one high-res map; "raw map" rows
# score the map itself, without post-processing. The last column is the paired difference
# from the low-res CAM. The same table is written to `run_dir/evidence/sources/` and comes
# from `hrcam evaluate --sources all` too.

# %%
Markdown(study.to_markdown())

# %%
between = {
    f"{p}: expansion minus image": studies.paired_between(study, f"{p}@expansion", f"{p}@image")
    for p in ("paper", "reference")
}
between["paper minus reference"] = studies.paired_between(
    study, "paper@expansion", "reference@expansion"
)
save_outputs(out_dir, {"between.json": between})
Markdown("\n".join(table_header(["Paired PxAP difference", "n", "mean [95% CI]"]) + [
    table_row([k, str(r["n"]), f"{r['difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"])
    for k, r in between.items()
]))  # fmt: skip

# %%
refined = [m for m in study.methods if m.split("@")[0] in ("paper", "reference")]
fig = plotting.paired_differences(
    [study.difference(m, "pxap") for m in refined],
    fallback=[study.value(m, "fallback_rate") for m in refined],
    title=f"{len(cams)} validation images",
)
glue("fig-evidence-sources", fig, display=False)

# %% [markdown]
# ```{glue:figure} fig-evidence-sources
# :name: fig-evidence-sources
#
# Refined CAM minus low-res CAM (PxAP, paired 95 % CI; green: better, red: worse, grey: no
# difference shown) for each preset and each high-res map, and how often each falls back to
# the low-res CAM. The oracle is the ground-truth mask, blurred and mixed with noise.
# ```
#
# How to read it: if the expansion network's rows match the image's and noise's rows, the
# expansion network contributes nothing the raw pixels would not. If even the oracle's rows
# are not clearly above zero, the post-processing itself, not the high-res map, is what limits
# the refined CAM.

# %% [markdown]
# ### How good must the high-res map be?
#
# The oracle's noise share is the knob: at 0 the high-res map *is* the (blurred) object mask,
# at 1 it is pure noise.

# %%
t0 = time.perf_counter()
sweep = studies.oracle_noise_sweep(cams, smoothness=cfg["oracle_smoothness"], seed=cfg["seed"])
save_outputs(out_dir, {"oracle_sweep.json": sweep})
timings["oracle_sweep"] = time.perf_counter() - t0
glue("fig-evidence-oracle", plotting.oracle_sweep(sweep), display=False)

# %% [markdown]
# ```{glue:figure} fig-evidence-oracle
# :name: fig-evidence-oracle
#
# Refined PxAP (left, with 95 % CIs; dashed: the low-res CAM) and fallback rate (right) as the
# oracle high-res map gets noisier. The paper preset's bounds are the 1st and 3rd quartiles
# of the high-res values inside the ROI: by construction they admit only the middle half of
# those values, so even a clean object can only partly be grown.
# ```

# %% [markdown]
# ## The bounds and the §5 size limits, measured
#
# The sweep below keeps everything else fixed and changes only the growth bounds (the
# paper's quartiles of the high-res map, the reference code's quartiles of the gradient, and
# wider percentile pairs) or switches off the §5 size test, whose limits (region under 0.05×
# or over 4× the ROI's area) this companion chose without looking at data. The defaults are
# not changed by this: the sweep shows what they cost.

# %%
t0 = time.perf_counter()
bounds = studies.refine_study(
    cams,
    sources=["expansion", "oracle"],
    configs=studies.BOUNDS_SWEEP,
    oracle_smoothness=cfg["oracle_smoothness"],
    oracle_noise=cfg["oracle_noise"],
    include_raw=False,
    seed=cfg["seed"],
    box_metrics=False,
)
bounds.save(out_dir / "bounds")
timings["bounds"] = time.perf_counter() - t0
rows = [bounds.difference(m, "pxap") for m in bounds.methods[1:]]
fig = plotting.paired_differences(
    rows,
    fallback=[bounds.value(m, "fallback_rate") for m in bounds.methods[1:]],
    title="bounds and size limits: expansion network and oracle high-res maps",
)
glue("fig-evidence-bounds", fig, display=False)

# %% [markdown]
# ```{glue:figure} fig-evidence-bounds
# :name: fig-evidence-bounds
#
# Refined minus low-res PxAP (paired 95 % CI) and fallback rate for each bounds setting, with
# the expansion network's high-res CAM and with the oracle. "no size limits" blends the grown
# region in even when the §5 test would have rejected it.
# ```

# %% [markdown]
# ## Where does each refinement go wrong? Per-image failure analysis
#
# For every image and preset (expansion network's high-res CAM) the study records the ROI's
# IoU with the object, the grown region's IoU, the fallback reason and whether the refined
# map's AP on that image beats the low-res map's. Each image falls into one kind, tested in
# pipeline order: a §5 fallback (too small, too large, other), a ROI off the object (the
# low-res CAM's maximum is not on the object), or else the refined map wins or loses against
# the low-res map.

# %%
stages = {m: studies.stage_summary(study, m) for m in ("paper@expansion", "reference@expansion")}
save_outputs(out_dir, {"stages.json": stages})
lines = table_header(["Preset", "ROI IoU", "grown IoU (no fallback)", "too small", "too large",
                      "beats low-res"])  # fmt: skip
for m, s in stages.items():
    lines.append(table_row([
        m.split("@")[0],
        f"{s['roi_iou'][0]:.3f} [{s['roi_iou'][1]:.3f}, {s['roi_iou'][2]:.3f}]",
        f"{s['grown_iou'][0]:.3f} ({s['n_grown']} images)",
        f"{s['fallback_too_small']:.1%}", f"{s['fallback_too_large']:.1%}",
        f"{s['share_better']:.1%}",
    ]))  # fmt: skip
Markdown("\n".join(lines))

# %%
counts = {m.split("@")[0]: study.kind_counts(m) for m in stages}
glue("fig-evidence-kinds", plotting.kind_counts(counts), display=False)
for m in stages:
    name = m.split("@")[0]
    examples = studies.failure_examples(study, cams, m)
    glue(f"fig-evidence-failures-{name}", plotting.failure_examples(examples),
         display=False)  # fmt: skip

# %% [markdown]
# ```{glue:figure} fig-evidence-kinds
# :name: fig-evidence-kinds
#
# How the refinement of each validation image ends, per preset (expansion network's
# high-res CAM).
# ```
#
# ```{glue:figure} fig-evidence-failures-paper
# :name: fig-evidence-failures-paper
#
# One example of each kind, `paper` preset: the image with the object's outline; the resized
# low-res CAM with the ROI; the grown region with the focal points (yellow) and the object's
# outline (red); the refined CAM.
# ```
#
# ```{glue:figure} fig-evidence-failures-reference
# :name: fig-evidence-failures-reference
#
# The same for the `reference` preset.
# ```

# %% [markdown]
# ## Paper §5: robust when either map fails?
#
# The paper argues two things: when the low-res CAM is off the object, region growing from
# its local maxima can still find it; and when region growing fails, the blend regresses to
# the low-res map. The first is measured on the images where the low-res CAM misses (its
# maximum is off the object), where a refined pointing score above the low-res one means
# rescued images. The second is measured by feeding noise as the high-res map: a refined CAM
# that "regresses to low-res" should score no worse than the low-res CAM.
#
# The low-res CAM rarely misses on this data, so this part runs on more images: the
# validation images above plus `section5_images` new ones rendered by the same generator with
# another seed (held out from training; only the post-processing's inputs are computed).

# %%
t0 = time.perf_counter()
extra = studies.extra_heldout(
    stage_dir(cfg["run_dir"], "01_dataset"), out_dir / "section5_data", cfg["section5_images"]
)
cams5 = (
    cams
    if extra is None
    else methods.concat_cams(
        cams, methods.compute_cams(model, extra, None, cfg["batch_size"]), offset=len(val)
    )
)
study5 = studies.refine_study(
    cams5, sources=["expansion", "noise"], include_raw=False, seed=cfg["seed"], box_metrics=False
)
section5 = {}
for m in ("paper@expansion", "reference@expansion"):
    section5[m] = {
        "miss": studies.subset_difference(study5, m, "pointing", low_res_miss=True),
        "miss_pxap": studies.subset_difference(study5, m, "pxap", low_res_miss=True),
    }
for m in ("paper@noise", "reference@noise"):
    section5[m] = {"all_pxap": study5.difference(m, "pxap")}
save_outputs(out_dir, {"section5.json": section5})
timings["section5"] = time.perf_counter() - t0
n_miss = section5["paper@expansion"]["miss"]["n"]
lines = [f"Low-res CAM misses the object on {n_miss} of {len(cams5)} images.", "", *table_header(
    ["Test", "Preset", "n", "refined", "low-res", "difference [95% CI]"])]  # fmt: skip
for m, parts in section5.items():
    for key, r in parts.items():
        what = {"miss": "pointing, low-res misses", "miss_pxap": "PxAP, low-res misses",
                "all_pxap": "PxAP, noise as high-res map"}[key]  # fmt: skip
        lines.append(table_row([
            what, m.split("@")[0], str(r["n"]), f"{r['method_mean']:.3f}",
            f"{r['low_res_mean']:.3f}",
            f"{r['difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]",
        ]))  # fmt: skip
Markdown("\n".join(lines))

# %% [markdown]
# ## Expansion training leaves the classifier unchanged
#
# The classifier checkpoint from before expansion training and the classifier inside the
# trained model see the same validation images.

# %%
unchanged = studies.classifier_unchanged(
    stage_dir(cfg["run_dir"], "02_classifier") / "best.pt", model, val,
    limit=cfg["evidence_images"], batch_size=cfg["batch_size"],
)  # fmt: skip
save_outputs(out_dir, {"unchanged.json": unchanged})
from hrcam.book import values_markdown

Markdown(values_markdown(unchanged))

# %% [markdown]
# ## Data where high-resolution detail should matter
#
# Each variant of the synthetic set (`hrcam data synthetic --variant NAME`) changes one thing
# the pipeline depends on and keeps the classes. Each gets its own data, classifier and
# expansion network, all trained with the same small settings (this profile's `variant_*`
# parameters), so the variants differ only in their data; `default` is retrained with the
# same settings for a fair comparison. These runs are smaller than the main one, so compare
# the variants with each other, not with the numbers above.

# %%
from hrcam.data.synthetic import VARIANTS

Markdown("\n".join(f"- **{name}**: {VARIANTS[name]}" for name in cfg["variants"]))

# %%
t0 = time.perf_counter()
variant_rows, variant_summaries = [], []
for name in cfg["variants"]:
    v_study, summary = studies.run_variant(
        name,
        out_dir / "variants" / name,
        image_size=val.image_size,
        num_classes=len(val.classes),
        num_train=cfg["variant_num_train"],
        num_val=cfg["variant_num_val"],
        classifier_epochs=cfg["variant_classifier_epochs"],
        expansion_epochs=cfg["variant_expansion_epochs"],
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
        device=cfg["device"],
    )
    variant_summaries.append(summary)
    for preset in ("paper", "reference"):
        row = dict(v_study.difference(f"{preset}@expansion", "pxap"))
        row.update(variant=name, config=preset,
                   fallback=v_study.value(f"{preset}@expansion", "fallback_rate"),
                   low_res_iou=v_study.value("low_res_cam", "mask_iou"),
                   refined_iou=v_study.value(f"{preset}@expansion", "mask_iou"))  # fmt: skip
        variant_rows.append(row)
save_outputs(out_dir, {"variants.json": {"rows": variant_rows, "summaries": variant_summaries}})
timings["variants"] = time.perf_counter() - t0
lines = table_header(["Variant", "accuracy", "val PSNR dB", "preset", "low-res PxAP",
                      "refined minus low-res [95% CI]", "fallback"])  # fmt: skip
acc = {s["variant"]: s for s in variant_summaries}
for r in variant_rows:
    s = acc[r["variant"]]
    lines.append(table_row([
        r["variant"], f"{s['accuracy']:.3f}", f"{s['val_psnr']:.1f}", str(r["config"]),
        f"{r['low_res_mean']:.3f}",
        f"{r['difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]",
        f"{r['fallback']:.1%}",
    ]))  # fmt: skip
Markdown("\n".join(lines))

# %%
glue(
    "fig-evidence-variants",
    plotting.variant_differences(
        variant_rows, title=f"{cfg['variant_num_val']} validation images per variant"
    ),
    display=False,
)

# %% [markdown]
# ```{glue:figure} fig-evidence-variants
# :name: fig-evidence-variants
#
# Refined minus low-res PxAP (paired 95 % CI) and fallback rate on each data variant, both
# presets, each variant with its own classifier and expansion network.
# ```

# %% [markdown]
# ## What this notebook costs
#
# Wall time of each part of this notebook in this run (seconds; the variants include data
# generation and training). {doc}`13_claims` lists the cost of every notebook.

# %%
save_outputs(out_dir, {"timings.json": timings})
Markdown(seconds_table(timings))
