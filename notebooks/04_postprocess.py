# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,mystnb,-all
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
# # Post-processing, step by step
#
# This notebook follows the paper's Sec. 4.4 on one validation image and reproduces its
# Figures 2, 3 and 4. The paper's text and its reference code disagree on three steps
# (how focal points are chosen, which values set the region-growing bounds, and which image
# the region grows on), so every step is shown for both presets side by side:
# `paper` (the text) and `reference` (the public code). {doc}`06_paper_vs_reference`
# measures what the differences do over many images.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
device = None
sample_index = None
num_examples = None

# %%
from hrcam.book import notebook_config

cfg = notebook_config("04_postprocess", globals())
cfg

# %%
# %matplotlib inline
import numpy as np
from myst_nb import glue

from hrcam import plotting, studies
from hrcam.book import load_run, stage_dir
from hrcam.evaluate import save_outputs
from hrcam.explain import Explainer
from hrcam.plotting import select_example
from hrcam.postprocess import refine

model, val = load_run(cfg["run_dir"], cfg["device"])
explainer = Explainer(model, preset="paper")
if cfg["sample_index"] == "auto":
    # Like the paper, illustrate the pipeline on an image where it works: the first of a few
    # validation images classified correctly with region growing succeeding. Notebook 05
    # counts the failures over the whole split.
    candidates = val.get_batch(np.arange(min(32, len(val))))
    sample_index = select_example(explainer.explain(candidates["image"]), candidates["label"])
else:
    sample_index = int(cfg["sample_index"])
sample = val.get_batch([sample_index])
image = sample["image"][0]
# The explainer runs both networks and refines with the paper preset; the reference preset
# refines the very same pair of CAMs.
explanation = explainer.explain(sample["image"])[0]
low, high = explanation.low_res_cam, explanation.high_res_cam
results = {
    "paper": explanation.refinement,
    "reference": refine(low, high, preset="reference"),
}
title = (
    f"true: {val.classes[int(sample['label'][0])]}, "
    f"predicted: {val.classes[explanation.label]} (p = {explanation.probability:.2f})"
)
print(f"validation image {sample_index}; {title}")
print(f"low-res CAM {low.shape}, high-res CAM {high.shape}")

# %% [markdown]
# ## The low-res CAM (Figure 2)
#
# The classifier's CAM for the predicted class, on its own coarse grid. It says roughly
# *where* the evidence is, but nothing about the object's outline. Both presets start from
# this same map.

# %%
glue("fig-paper-2", plotting.figure2(image, results["paper"].low_res, title=title), display=False)

# %% [markdown]
# ```{glue:figure} fig-paper-2
# :name: fig-paper-2
#
# Reproduces the paper's Fig. 2. Left: a validation image. Right: its low-res CAM for the
# predicted class, drawn on the classifier's grid.
# ```

# %% [markdown]
# ## Focal points, edges and the bounds (Figure 3)
#
# The high-res CAM is blurred with a 5×5 box filter and a Sobel filter gives its edges. The
# focal points (yellow) come from the low-res CAM: its local maxima in the paper, the 15
# brightest resized pixels in the reference code. The ROI (cyan outline) keeps the brightest
# 15 % of the resized low-res CAM. Region growing then accepts pixels between two bounds taken
# from inside the ROI: the quartiles of the blurred high-res CAM (paper) or of the Sobel
# gradient (reference); the histograms show those values and the chosen bounds.

# %%
glue("fig-paper-3", plotting.figure3(results), display=False)

# %% [markdown]
# ```{glue:figure} fig-paper-3
# :name: fig-paper-3
#
# Reproduces the paper's Fig. 3, for both presets (rows). Left: edges of the processed high-res
# CAM with the focal points in yellow and the ROI in cyan. Right: boundary selection, the
# histogram of the values inside the ROI with the lower and upper bounds.
# ```

# %% [markdown]
# ## The refined CAM (Figure 4)
#
# The grown region, with strong edges added back and small holes filled, is blended half and
# half with the resized low-res CAM. The right column masks the image with the brightest
# 15 % of the refined CAM. If growing fails (a region far smaller or larger than the ROI) the
# refined CAM falls back to the low-res CAM, as the paper's Sec. 5 anticipates.

# %%
glue("fig-paper-4", plotting.figure4(image, results), display=False)

# %% [markdown]
# ```{glue:figure} fig-paper-4
# :name: fig-paper-4
#
# Reproduces the paper's Fig. 4, for both presets (rows). Left: the refined CAM. Right: the
# original image masked by the refined CAM (its brightest 15 %).
# ```

# %% [markdown]
# ## Every intermediate
#
# The same pipeline, one panel per step, for each preset. These are the fields of the
# `RefineResult` that `hrcam.postprocess.refine` returns.

# %%
glue(
    "fig-steps-paper",
    plotting.pipeline_steps(image, results["paper"], title="paper preset"),
    display=False,
)

# %% [markdown]
# ```{glue:figure} fig-steps-paper
# :name: fig-steps-paper
#
# All intermediates of the paper preset (no counterpart in the paper).
# ```

# %%
glue(
    "fig-steps-reference",
    plotting.pipeline_steps(image, results["reference"], title="reference preset"),
    display=False,
)

# %% [markdown]
# ```{glue:figure} fig-steps-reference
# :name: fig-steps-reference
#
# All intermediates of the reference preset (no counterpart in the paper).
# ```

# %% [markdown]
# ## More validation images
#
# The first few validation images with the object's true outline in white: the low-res CAM
# after the bilinear resize, and the refined CAM of each preset.

# %%
batch = val.get_batch(np.arange(min(cfg["num_examples"], len(val))))
examples = explainer.explain(batch["image"])
rows = {
    "low-res CAM": [e.refinement.low_res_resized for e in examples],
    "refined (paper)": [e.refinement.refined for e in examples],
    "refined (reference)": [
        refine(e.low_res_cam, e.high_res_cam, preset="reference").refined for e in examples
    ],
}
glue("fig-examples", plotting.cam_grid(batch["image"], rows, batch["mask"]), display=False)

# %% [markdown]
# ```{glue:figure} fig-examples
# :name: fig-examples
#
# Low-res and refined CAMs of both presets on validation images, with the ground-truth outline
# in white (the paper shows a single image).
# ```

# %% [markdown]
# The numbers behind the figures, also written to `run_dir/postprocess/summary.json`:

# %%
summary = {
    "sample_index": sample_index,
    "label": int(sample["label"][0]),
    "predicted": explanation.label,
    "probability": explanation.probability,
    "presets": studies.refinement_summary(results),
}
save_outputs(
    stage_dir(cfg["run_dir"], "04_postprocess", create=True),
    {
        "summary.json": summary,
        "sample.npz": {
            "image": image.numpy(),
            "low_res": low,
            "high_res": high,
            **{f"refined_{p}": r.refined for p, r in results.items()},
        },
    },
)
from IPython.display import Markdown

from hrcam.book import values_markdown

Markdown(values_markdown(summary))
