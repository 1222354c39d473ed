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
# # The paper's idea against its descendants
#
# The paper lifts a classifier's coarse features to full resolution with a network learned
# without labels, by reconstructing the image ({cite:t}`tagaris2019hrcam`, §3.2). Since then
# the same idea, *learn an upsampler of a frozen backbone's features without labels*, has been
# taken further. This page puts three unsupervised ways to a high-resolution CAM from the
# **same frozen classifier** side by side:
#
# - **Expansion network** (the paper): reconstructs the image from the classifier's skip
#   features; the high-res CAM is the class weights applied to its full-resolution map.
# - **Learned JBU** (`featup_jbu`, FeatUp-style, Fu et al. 2024): a stack of ×2 joint
#   bilateral upsampling stages whose range kernel is learned from the image (7 × 7 window,
#   learned spatial σ, bicubic source, a 1 × 1 correction), trained by *multi-view
#   reconstruction*: the upsampled CAM features of an image, jittered (zoom, shift, flip) and
#   pooled by a learned downsampler, must match the classifier's own features of the jittered
#   image (per-pixel uncertainty loss and a small total-variation term). Written in plain
#   PyTorch (`hrcam.models.jbu`; `hrcam train upsampler`). A JBU with a fixed guide is linear
#   in its source, so upsampling the CAM features and then applying the class weights equals
#   upsampling the CAM.
# - **No learning**: the bilinear low-res CAM filtered with the image as the guide, by a guided
#   filter (`cam_guided`) or OpenCV's full-resolution joint bilateral filter (`cam_bilateral`,
#   `cv2.ximgproc.jointBilateralFilter`); or the low-res samples themselves upsampled by joint
#   bilateral upsampling as Kopf et al. (2007) define it (`cam_jbu`: the 5 × 5 samples around
#   each pixel, weighted by distance and by colour against each sample's mean colour).
#
# A fourth, different route is measured apart, on fewer images for its cost: grad-cam's
# **SESS** (`sess`), which learns nothing either but runs the classifier again on sliding
# windows of twelve upscaled copies of the image and fuses their Grad-CAMs, so it pays for its
# resolution in forward passes.
#
# Each map is scored raw and as the high-res map of the paper's post-processing (the same
# low-res CAM, focal points and ROI; only the high-res map changes), against exact masks, with
# bootstrap 95 % CIs and paired differences against the bilinear low-res CAM on the same
# images. Nothing was tuned: the filters' settings are fixed in `hrcam.methods.hires`, the
# post-processing is the paper's preset.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
seed = None
device = None
upsampler_epochs = None
upsampler_batch_size = None
upsampler_max_batches = None
upsampler_eval_images = None
upsampler_sess_images = None
learned_maps = None

# %%
from hrcam.book import notebook_config

cfg = notebook_config("11_upsamplers", globals())
cfg

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
from IPython.display import Markdown
from myst_nb import glue

from hrcam import plotting
from hrcam.book import stage_dir
from hrcam.data.store import StoreDataset
from hrcam.methods import compute_cams
from hrcam.models import load_checkpoint
from hrcam.models.jbu import save_upsampler, with_upsampler
from hrcam.models.shipped import read_card
from hrcam.studies import refine_study
from hrcam.studies.cutouts import cutout_units
from hrcam.studies.learned_maps import (
    SHIPPED_EXPANSION,
    SHIPPED_UPSAMPLER,
    facts_of_checkpoint,
    measured_upsampler,
    scale_text,
    upsampler_facts,
)
from hrcam.studies.learning import seed_caveats
from hrcam.studies.refine import PRESET_CONFIGS
from hrcam.studies.upsamplers import (
    UPSAMPLER_SOURCES,
    add_method_sources,
    first_cams,
    map_label,
    method_costs,
    postprocess_ms,
    rank_maps,
    save_values,
    sess_forward_passes,
    source_maps,
    training_seconds,
    upsampler_inputs,
    upsampler_table,
    upsampler_values,
)
from hrcam.train import train_upsampler
from hrcam.train.upsampler import FEATUP_DIFFERENCES

started = time.perf_counter()
out_dir = stage_dir(cfg["run_dir"], "11_upsamplers", create=True)
inputs = upsampler_inputs(cfg["run_dir"])
measured = inputs is not None
glue("ups-data", inputs.data if measured else "nothing (no earlier chapter's model)",
     display=False)  # fmt: skip
if measured:
    # Paths inside the run folder only: the page must not show the builder's file system.
    def _inside(path):
        return path.relative_to(cfg["run_dir"]).as_posix()

    print(f"Measured on the {inputs.data}: images from {_inside(inputs.store)}/, classifier "
          f"{_inside(inputs.classifier)}, expansion network {_inside(inputs.expansion)}/ "
          "(paths inside the run folder)")  # fmt: skip

# %% [markdown]
# The maps are measured on the **{glue:text}`ups-data`**: the real cut-outs of
# {doc}`10_real_cutouts` (EfficientNet-Lite0 and its expansion network) when that chapter ran,
# else the synthetic scenes of {doc}`05_evaluation`.
#
# ## Training the learned upsampler
#
# On the same training images as the expansion network, with the classifier frozen and no
# labels, as FeatUp trains its JBU (its remaining differences, each with its reason, are
# listed below the training): five jitters of each image per step, the classifier's features
# through FeatUp's ChannelNorm, random 30-dimensional projections, its predicted uncertainty
# and CRF term, NAdam at lr 1e-3. The demo profile trains it for one step as a walk-through
# (its cost on two CPU cores) and, with `learned_maps = "shipped"`, measures the learned JBU
# that ships in `hrcam/weights/` (its learning curve is in {doc}`10_real_cutouts`); the
# `study` profile trains it for several epochs. At inference `featup_jbu` upsamples the
# class's *exact* low-res CAM: the JBU acts on every channel alike, so this is the class
# weights applied to the upsampled features, without any projection.

# %%
if measured:
    trained = train_upsampler(
        data_root=inputs.store,
        run_dir=out_dir / "jbu",
        classifier_checkpoint=inputs.classifier,
        epochs=cfg["upsampler_epochs"],
        batch_size=cfg["upsampler_batch_size"],
        max_train_batches=cfg["upsampler_max_batches"],
        max_val_batches=1,
        device=cfg["device"],
        seed=cfg["seed"],
        progress=False,
        resume=False,
    )
    print(trained.summary())
glue("ups-featup-differences", Markdown("\n".join(f"- {d}" for d in FEATUP_DIFFERENCES)),
     display=False)  # fmt: skip
if measured:
    seconds = {
        "expansion": training_seconds(inputs.expansion),
        "featup_jbu": training_seconds(out_dir / "jbu"),
    }
    model = load_checkpoint(inputs.measured).model().eval()
    device = next(model.parameters()).device
    # The shipped JBU is Lite0's: on the synthetic scenes the walk-through's is measured.
    use = cfg["learned_maps"] if inputs.data == "real cut-outs" else "retrain"
    upsampler, jbu_facts = measured_upsampler(use, model.classifier, trained,
                                              cfg["upsampler_batch_size"])  # fmt: skip
    model = with_upsampler(model, upsampler)
    # Chapter 12 explains with the same upsampler: it reads it from here.
    save_upsampler(out_dir / "measured_jbu.pt", upsampler,
                   {"classifier_checkpoint": str(inputs.classifier),
                    **upsampler_facts(jbu_facts)})  # fmt: skip
    exp_facts = facts_of_checkpoint(inputs.measured)
else:
    seconds = {"expansion": float("nan"), "featup_jbu": float("nan")}
for key, value in seconds.items():
    glue(f"ups-train-s-{key}", value, display=False)
glue("ups-train-ratio", seconds["featup_jbu"] / seconds["expansion"], display=False)

# %% [markdown]
# Where this training departs from FeatUp's JBU recipe, and why:
#
# ```{glue:md} ups-featup-differences
# :format: gfm
# ```
#
# Training time on this machine (sum of the epochs' times, the same measure for both):
# expansion network {glue:text}`ups-train-s-expansion:.0f` s (trained by the earlier chapter),
# learned JBU {glue:text}`ups-train-s-featup_jbu:.0f` s, a ratio of
# {glue:text}`ups-train-ratio:.2f`. The two trainings differ in length by profile, so the ratio
# is what this run spent, not a like-for-like cost per epoch.
#
# ## Every map on the same images

# %%
if measured:
    val = StoreDataset(inputs.store, "val")
    cams = compute_cams(model, val, limit=cfg["upsampler_eval_images"], batch_size=8,
                        target="label", progress=False)  # fmt: skip
    costs = add_method_sources(model, cams, UPSAMPLER_SOURCES, batch_size=8, device=device)
    costs.update(method_costs(model, cams, ["low_res_cam", "high_res_cam"],
                              images=min(4, len(cams)), device=device))  # fmt: skip
    costs["expansion"] = costs["high_res_cam"]
    costs["post-processing"] = postprocess_ms(cams)
    # Cut-outs of one stamp are not independent: the intervals resample stamps (a synthetic
    # store, whose scenes are drawn independently, records none: there images are the unit).
    try:
        stamps = cutout_units(inputs.store, "val")["stamps"]
        units_text = f"{len({stamps[int(i)] for i in cams.index})} independent stamps"
    except KeyError:
        stamps, units_text = None, f"{len(cams)} independent images"
    study = refine_study(
        cams, sources=["expansion", *UPSAMPLER_SOURCES],
        configs={"paper": PRESET_CONFIGS["paper"]}, include_raw=True, seed=cfg["seed"],
        units=stamps,
    )  # fmt: skip
    glue("ups-units", units_text, display=False)
    n_units = len({stamps[int(i)] for i in cams.index}) if stamps else len(cams)
    glue("ups-scale", scale_text(len(cams), n_units, "stamps" if stamps else "images",
                                 {"expansion network": exp_facts, "learned JBU": jbu_facts}),
         display=False)  # fmt: skip
    values = upsampler_values(study, costs, seconds)
    save_values(values, out_dir)
    ranking = {m: rank_maps(study, m, seed=cfg["seed"]) for m in ("pxap", "max_box_acc_v2")}
    table = upsampler_table(study, costs)
    glue("ups-n", len(cams), display=False)
else:
    table = "Not measured: neither the cut-out chapter nor the synthetic run is in this run folder."
    ranking = {m: {"text": "Not measured."} for m in ("pxap", "max_box_acc_v2")}
    glue("ups-n", 0, display=False)
    glue("ups-units", "no", display=False)
    glue("ups-scale", "nothing measured", display=False)
# Where a shipped map's verdict changes sign between its training seeds, the page says so.
glue("ups-seed-caveat", seed_caveats([
    (read_card(SHIPPED_UPSAMPLER), "featup_jbu_minus_low_res", "The learned JBU minus low-res",
     jbu_facts["source"]),
    (read_card(SHIPPED_EXPANSION), "refined_paper_minus_low_res",
     "Refined (paper preset, expansion network) minus low-res", exp_facts["source"]),
]) if measured else "Nothing was measured here.", display=False)  # fmt: skip
glue("ups-rank-pxap", Markdown(ranking["pxap"]["text"]), display=False)
glue("ups-rank-box", Markdown(ranking["max_box_acc_v2"]["text"]), display=False)
Markdown(table)

# %% [markdown]
# On {glue:text}`ups-n` validation images ({glue:text}`ups-units`; the intervals resample
# them, and PxAP sums pixel counts over the images as Choe et al. define it), each map
# explains the ground-truth class. "raw map"
# is the source map itself; "refined, paper" is the paper's post-processing fed that map as
# its high-res CAM. The cost is the measured time per image on this machine: the forward pass
# and the upsampling; for the refined maps, plus the paper's post-processing (timed alone on
# the same maps).
#
# {glue:md}`ups-rank-pxap`
#
# {glue:md}`ups-rank-box`
#
# **The scale of these verdicts:** {glue:text}`ups-scale`. How much the learned maps'
# verdicts move between training runs (three seeds each) is measured in
# {doc}`10_real_cutouts`'s section on training. {glue:text}`ups-seed-caveat`
#
# Two things shape these numbers. The paper's post-processing takes its focal points and ROI
# from the low-res CAM, so a refined map can only be as good as that CAM lets it: where the
# low-res CAM misses the object, every refined row stays near it whatever its high-res map.
# And SESS (below) is the only method here that shows the classifier the image at other sizes: it
# explains windows of copies upscaled from {glue:text}`ups-sess-size` px, which matters most
# when the images are smaller than the classifier's training resolution (224 px for
# EfficientNet-Lite0), and it pays for that in forward passes.
#
# ## The maps side by side

# %%
if measured:
    maps = source_maps(cams, ["expansion", *UPSAMPLER_SOURCES], count=4)
    fig = plotting.example_grid(cams.images[:4], cams.masks[:4], maps,
                                {k: map_label(k) for k in maps})  # fmt: skip
else:
    fig = plt.figure(figsize=(4, 1))
    fig.text(0.5, 0.5, "not measured", ha="center")
glue("fig-upsamplers", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig-upsamplers
# :name: fig-upsamplers
#
# The first validation images: each row one way to a high-res CAM, drawn at the image's own
# resolution (one figure pixel per map pixel), the object's outline in white.
# ```
#
# ## SESS and RefineCAM
#
# grad-cam 1.5.7 ships two high-resolution meta-methods, both now in the registry: `sess` and
# `refinecam` (the product of Grad-CAM++ maps of several layers). RefineCAM needs the
# classifier's backbone stages, which a wrapped ImageNet model does not expose, so it runs on
# the synthetic scenes only ({doc}`05_evaluation`). SESS's cost grows with its windows; it is
# far over five times the forward pass, so it is not in the default method list (`hrcam
# evaluate --methods sess` runs it), the cut-out chapter's profile leaves it out, and here it
# is scored on the first {glue:text}`ups-sess-n` of the images above only, raw and
# post-processed, against the low-res CAM on the same images:

# %%
n_sess = min(cfg["upsampler_sess_images"], len(cams)) if measured else 0
if n_sess:
    few = first_cams(cams, n_sess)
    sess_costs = add_method_sources(model, few, ["sess"], batch_size=n_sess, device=device)
    sess_study = refine_study(few, sources=["sess"], configs={"paper": PRESET_CONFIGS["paper"]},
                              include_raw=True, seed=cfg["seed"])  # fmt: skip
    sess_table = upsampler_table(sess_study, {**costs, **sess_costs})
else:
    sess_table = "Not measured in this run."
glue("ups-sess-n", n_sess, display=False)
glue("ups-sess-table", Markdown(sess_table), display=False)
Markdown(sess_table)

# %%
size = int(cams.images.shape[1]) if measured else 224
sess = sess_forward_passes(size)
glue("ups-sess-size", size, display=False)
glue("ups-sess-windows", sess["windows"], display=False)
glue("ups-sess-passes", sess["forward_passes"], display=False)
glue("ups-seconds", time.perf_counter() - started, display=False)

# %% [markdown]
# On a {glue:text}`ups-sess-size` px image SESS explains {glue:text}`ups-sess-windows:.0f`
# windows: about {glue:text}`ups-sess-passes:.0f` classifier passes (one to score each window,
# about 2.5 for its Grad-CAM), against one for the CAM; its measured time per image is in the
# table above. This page took {glue:text}`ups-seconds:.0f` s to run.
