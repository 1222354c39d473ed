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
# # What the evidence says
#
# Each claim of the paper, the measurement of this run that answers it, and the section that
# produced it. Every number on this page is read from the run folder when the page is
# executed and inserted with `glue`; none is typed. Differences are *paired* (the same
# validation images, refined minus low-res unless said otherwise) with percentile-bootstrap
# {glue:text}`ci_level:.0%` confidence intervals in brackets. "Not shown" means this run
# cannot answer the claim.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"

# %%
from hrcam.book import notebook_config

cfg = notebook_config("13_claims", globals())
cfg

# %%
# %matplotlib inline
from IPython.display import Markdown
from myst_nb import glue

from hrcam.book import stage_dir
from hrcam.studies.claims import beyond_values, claim_values, notebook_costs, save_claims

values = {**claim_values(cfg["run_dir"]), **beyond_values(cfg["run_dir"])}
for key, value in values.items():
    glue(key, Markdown(value) if isinstance(value, str) else value, display=False)
path = save_claims(values, stage_dir(cfg["run_dir"], "13_claims", create=True))
# The run folder's own name only: the page must not show the builder's file system.
print(f"{len(values)} values, also written to {path.parent.name}/{path.name} of the run folder")

# %%
from hrcam import plotting
from hrcam.studies.claims import summary_rows

fig = plotting.paired_differences(
    summary_rows(values), title=f"{values['n_images']} validation images"
)
glue("fig-claims-summary", fig, display=False)

# %% [markdown]
# ```{glue:figure} fig-claims-summary
# :name: fig-claims-summary
#
# The evidence at a glance: the paired PxAP differences this page cites, with their
# intervals (green: above zero, red: below, grey: zero inside the interval).
# ```

# %%
from hrcam.studies.claims import any_cnn_text, front_text, two_column_table
from hrcam.studies.cutouts import cutout_summary

cut = cutout_summary(stage_dir(cfg["run_dir"], "10_real_cutouts"))
glue("claims-two-columns", Markdown(two_column_table(values, cut)), display=False)
glue("claims-any-cnn", Markdown(any_cnn_text(values, cut)), display=False)
glue("claims-front", Markdown(front_text(cut)), display=False)
glue(
    "claims-real-best",
    Markdown(cut["cut_best"] if cut else "The real cut-out chapter did not run."),
    display=False,
)

# %% [markdown]
# ## Each claim twice: synthetic scenes and real animals
#
# The same measurements on the synthetic scenes of {doc}`07_evidence` (the book's own
# classifier) and on real animal photographs cut out with exact masks and pasted on natural
# photos, explained by a real ImageNet classifier ({doc}`10_real_cutouts`). Paired rows are
# differences on the same images; the verdict says whether the whole interval lies on one side
# of zero.
#
# ```{glue:md} claims-two-columns
# :format: gfm
# ```
#
# On the real cut-outs: {glue:md}`claims-real-best`
#
# **What each method gives for what it costs** ({doc}`10_real_cutouts`, the front figure):
# {glue:md}`claims-front`

# %% [markdown]
# ## The claims
#
# **Low-res CAMs are crude** (paper §1, §4.4). On {glue:text}`n_images` validation images the
# resized low-res CAM reaches PxAP {glue:text}`lowres_pxap:.3f` [{glue:text}`lowres_pxap_lo:.3f`,
# {glue:text}`lowres_pxap_hi:.3f`] and best-threshold mask IoU {glue:text}`lowres_iou:.3f`
# [{glue:text}`lowres_iou_lo:.3f`, {glue:text}`lowres_iou_hi:.3f`]; a map shaped like the
# object (the oracle, before any post-processing) reaches PxAP {glue:text}`raworacle_pxap:.3f`.
# Verdict: {glue:md}`crude_verdict`.
# ({doc}`07_evidence`, high-res-source ablation.)
#
# **Refined CAMs give object-level detail** (abstract, §3.3, §6). Refined minus low-res PxAP:
# `paper` preset {glue:text}`refined_paper_diff:+.3f` [{glue:text}`refined_paper_diff_lo:+.3f`,
# {glue:text}`refined_paper_diff_hi:+.3f`], verdict: {glue:md}`refined_paper_verdict`;
# `reference` preset {glue:text}`refined_reference_diff:+.3f`
# [{glue:text}`refined_reference_diff_lo:+.3f`, {glue:text}`refined_reference_diff_hi:+.3f`],
# verdict: {glue:md}`refined_reference_verdict`. Best-threshold mask IoU per image, refined
# minus low-res: {glue:text}`refined_paper_iou_diff:+.3f` (`paper`),
# {glue:text}`refined_reference_iou_diff:+.3f` (`reference`). The refined map scores above the
# low-res map on {glue:text}`refined_paper_share_better:.0%` (`paper`) and
# {glue:text}`refined_reference_share_better:.0%` (`reference`) of the images. On the data
# variants built so that fine detail matters, the refined map is better on: {glue:md}`variant_wins`;
# worse on: {glue:md}`variant_losses` (variants: {glue:md}`variants`).
# ({doc}`05_evaluation`; {doc}`07_evidence`, data variants.)
#
# **Which part carries the result?** Feeding the same post-processing the image's luminance
# instead of the expansion network's high-res CAM changes refined PxAP by
# {glue:text}`exp_image_paper:+.3f` [{glue:text}`exp_image_paper_lo:+.3f`,
# {glue:text}`exp_image_paper_hi:+.3f`] (`paper`, expansion minus image; verdict:
# {glue:md}`exp_image_paper_verdict`) and {glue:text}`exp_image_reference:+.3f`
# [{glue:text}`exp_image_reference_lo:+.3f`, {glue:text}`exp_image_reference_hi:+.3f`]
# (`reference`; {glue:md}`exp_image_reference_verdict`). With the oracle high-res map the
# refined CAM differs from the low-res CAM by {glue:text}`oracle_paper_diff:+.3f`
# [{glue:text}`oracle_paper_diff_lo:+.3f`, {glue:text}`oracle_paper_diff_hi:+.3f`] (`paper`,
# falling back on {glue:text}`oracle_paper_fallback:.0%` of images) and
# {glue:text}`oracle_reference_diff:+.3f` [{glue:text}`oracle_reference_diff_lo:+.3f`,
# {glue:text}`oracle_reference_diff_hi:+.3f`] (`reference`). That is the most the
# post-processing gets out of a near-perfect high-res map.
# ({doc}`07_evidence`, high-res-source ablation and bounds sweep.)
#
# **Expansion training leaves the classifier unchanged** (§3.2, §4.3). On
# {glue:text}`unchanged_images` validation images the largest absolute logit difference between
# the classifier before and after expansion training is {glue:text}`unchanged_max_logit_diff:.2e`
# and the predictions agree on {glue:text}`unchanged_agreement:.1%`. Verdict:
# {glue:md}`unchanged_verdict`. ({doc}`07_evidence`, classifier check.)
#
# **The refined CAM is robust when either map fails** (§5). *Low-res map fails:* the low-res
# CAM's maximum is off the object on {glue:text}`n_lowres_miss` images; there the refined map
# hits the object in the pointing game on {glue:text}`rescue_paper_rate:.0%` (`paper`,
# difference {glue:text}`rescue_paper:+.3f` [{glue:text}`rescue_paper_lo:+.3f`,
# {glue:text}`rescue_paper_hi:+.3f`]; {glue:md}`rescue_paper_verdict`) and
# {glue:text}`rescue_reference_rate:.0%` (`reference`, {glue:md}`rescue_reference_verdict`).
# *High-res map fails* (uniform noise as the high-res map): refined minus low-res PxAP is
# {glue:text}`noise_paper_diff:+.3f` [{glue:text}`noise_paper_diff_lo:+.3f`,
# {glue:text}`noise_paper_diff_hi:+.3f`] (`paper`, fallback on
# {glue:text}`noise_paper_fallback:.0%`; {glue:md}`noise_paper_verdict`) and
# {glue:text}`noise_reference_diff:+.3f` [{glue:text}`noise_reference_diff_lo:+.3f`,
# {glue:text}`noise_reference_diff_hi:+.3f`] (`reference`, fallback on
# {glue:text}`noise_reference_fallback:.0%`; {glue:md}`noise_reference_verdict`).
# ({doc}`07_evidence`, §5 and failure analysis.)
#
# **The method works on any CAM-capable CNN** (§3.2). {glue:md}`claims-any-cnn`
# ({doc}`10_real_cutouts`; {doc}`08_real_photos` shows the maps on photos without masks.)
#
# **The paper and its code differ** (the text against github.com/djib2011/high-res-mapping).
# Refined PxAP, `paper` minus `reference` preset on the same images:
# {glue:text}`paper_reference:+.3f` [{glue:text}`paper_reference_lo:+.3f`,
# {glue:text}`paper_reference_hi:+.3f`] ({glue:md}`paper_reference_verdict`); fallback rates
# {glue:text}`refined_paper_fallback:.0%` (`paper`) and
# {glue:text}`refined_reference_fallback:.0%` (`reference`). ({doc}`06_paper_vs_reference`,
# {doc}`07_evidence`.)

# %% [markdown]
# ## Beyond the paper
#
# **Which method localizes best, and at what cost?** Not a claim of the paper, which compares
# with no other method; measured on the same classifier and images for every method of this
# book, the paper's maps, the Grad-CAM family, the high-resolution peers and the
# consistency-trained network below: {glue:md}`beyond_statement`
# ({doc}`09_beyond_the_paper`, {doc}`05_evaluation`.)
#
# **Training the expansion network towards the CAM** (§6 names joint training of both
# networks as future work; this step towards it keeps the classifier frozen). An expansion
# network trained with consistency weight {glue:text}`beyond_weight:g` instead of the
# paper's zero, otherwise as in {doc}`03_expansion`: its raw high-res CAM reaches PxAP
# {glue:text}`beyond_cons_high_res_cam_pxap:.3f` [{glue:text}`beyond_cons_high_res_cam_pxap_lo:.3f`,
# {glue:text}`beyond_cons_high_res_cam_pxap_hi:.3f`] against
# {glue:text}`beyond_paper_high_res_cam_pxap:.3f` for the paper's network (paired difference
# {glue:text}`beyond_cons_high_res_cam_vs_paper:+.3f`
# [{glue:text}`beyond_cons_high_res_cam_vs_paper_lo:+.3f`,
# {glue:text}`beyond_cons_high_res_cam_vs_paper_hi:+.3f`];
# {glue:md}`beyond_cons_high_res_cam_vs_paper_verdict`)
# and against the low-res CAM's {glue:text}`beyond_lowres_pxap:.3f`
# ({glue:md}`beyond_cons_high_res_cam_vs_lowres_verdict`; these comparisons are on the first
# {glue:text}`beyond_n_images` validation images of {doc}`09_beyond_the_paper`, not the
# {glue:text}`n_images` of the claims above, which is why the low-res CAM's PxAP differs).
# Its refined CAM, `paper` preset, minus the paper network's:
# {glue:text}`beyond_cons_refined_paper_vs_paper:+.3f`
# [{glue:text}`beyond_cons_refined_paper_vs_paper_lo:+.3f`,
# {glue:text}`beyond_cons_refined_paper_vs_paper_hi:+.3f`]
# ({glue:md}`beyond_cons_refined_paper_vs_paper_verdict`); `reference` preset:
# {glue:text}`beyond_cons_refined_reference_vs_paper:+.3f`
# [{glue:text}`beyond_cons_refined_reference_vs_paper_lo:+.3f`,
# {glue:text}`beyond_cons_refined_reference_vs_paper_hi:+.3f`]
# ({glue:md}`beyond_cons_refined_reference_vs_paper_verdict`); against the low-res CAM the
# `paper` preset's refined CAM is {glue:text}`beyond_cons_refined_paper_vs_lowres:+.3f`
# [{glue:text}`beyond_cons_refined_paper_vs_lowres_lo:+.3f`,
# {glue:text}`beyond_cons_refined_paper_vs_lowres_hi:+.3f`]
# ({glue:md}`beyond_cons_refined_paper_vs_lowres_verdict`). In the high-res-source ablation
# on {glue:text}`beyond_abl_images` images, the `paper` preset falls back to the low-res CAM
# on {glue:text}`beyond_abl_paper_cons_fallback:.0%` of them with the new network's map. The
# price: validation reconstruction {glue:text}`beyond_val_psnr:.1f` dB PSNR against
# {glue:text}`beyond_paper_val_psnr:.1f` dB, and {glue:text}`beyond_train_seconds:.0f` s of
# training; the classifier's logits moved by at most {glue:text}`beyond_max_logit_diff:.1e`.
# Data variants ({glue:md}`beyond_variants`): {glue:md}`beyond_variants_text`
# ({doc}`09_beyond_the_paper`.)

# %% [markdown]
# ## What a careful reviewer would conclude
#
# {glue:md}`conclusion`
#
# The verdicts above are computed from the intervals, not written by hand: "better" or
# "worse" only where the whole {glue:text}`ci_level:.0%` interval lies on one side of zero.
# Read together they say whether, on this data and at this scale, the refined CAM localizes
# better than the resized low-res CAM, and whether the limit lies in the expansion network
# (compare it with the image and the oracle as high-res maps) or in the post-processing (the
# oracle rows and the bounds sweep). The synthetic data are not ImageNet, and the real
# cut-outs are real animals and a real ImageNet classifier but a small set pasted on photos:
# the paper's claims at ImageNet scale remain untested here, and the `paper` profile (a GPU
# and a local ILSVRC copy) is the way to test them.

# %% [markdown]
# ## Real photos: do the maps explain the model?
#
# {doc}`12_photo_faithfulness` randomizes the classifier's blocks from the top and asks
# whether each method's map changes ({cite:t}`adebayo2018sanity`); the expansion network stays as
# trained. {glue:md}`photo_sanity`

# %%
from hrcam.studies.claims import photo_faithfulness_text

glue("photo_sanity", Markdown(photo_faithfulness_text(cfg["run_dir"])), display=False)

# %% [markdown]
# ## What each notebook costs
#
# Wall time of each notebook's last execution by `hrcam book` in this run folder (seconds,
# on the machine that built this book; this page and the `jupyter-book build` itself, a few
# seconds each, are not included).

# %%
from hrcam.evaluate import seconds_table

costs = notebook_costs(cfg["run_dir"])
if costs:
    text = seconds_table(costs, "Notebook", digits=0)
    text += f"\n\nTotal of the notebooks above: {sum(costs.values()):.0f} s."
else:
    text = "Not recorded: this run folder was not executed by `hrcam book`."
Markdown(text)
