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
# None means "use the profile's value" (see hrcam/profiles.py).
device = None
sample_index = None
num_examples = None

# %%
from hrcam.profiles import notebook_config

cfg = notebook_config("04_postprocess", globals())
cfg

# %%
# %matplotlib inline
import json

import numpy as np
import torch
from myst_nb import glue

from hrcam import plotting
from hrcam.data.store import StoreDataset
from hrcam.models import high_res_cam, load_checkpoint, low_res_cam, normalize_images
from hrcam.postprocess import refine
from hrcam.profiles import stage_dir
from hrcam.train.device import resolve_device

PRESETS = ("paper", "reference")
dev = resolve_device(cfg["device"])
model = (
    load_checkpoint(stage_dir(cfg["run_dir"], "03_expansion") / "best.pt", map_location=dev)
    .model()
    .eval()
)
val = StoreDataset(stage_dir(cfg["run_dir"], "01_dataset"), "val")
sample = val.get_batch([cfg["sample_index"]])
image = sample["image"][0]
with torch.no_grad():
    out = model(normalize_images(sample["image"]).to(dev))
probs = out.logits.softmax(dim=1)[0].cpu()
pred = int(probs.argmax())
fc = model.classifier.fc.weight
low = low_res_cam(out.cam_features, fc, pred)[0].cpu().numpy()
high = high_res_cam(out.hr_features, fc, pred)[0].cpu().numpy()
results = {preset: refine(low, high, preset=preset) for preset in PRESETS}
title = (
    f"true: {val.classes[int(sample['label'][0])]}, "
    f"predicted: {val.classes[pred]} (p = {probs[pred]:.2f})"
)
print(title)
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
# The numbers behind the figures, also written to `run_dir/postprocess/summary.json`:

# %%
summary = {
    "sample_index": cfg["sample_index"],
    "label": int(sample["label"][0]),
    "predicted": pred,
    "probability": float(probs[pred]),
    "presets": {
        p: {
            "focal_points": len(r.focal_points),
            "lower": r.lower,
            "upper": r.upper,
            "region_ratio": r.region_ratio,
            "fallback": r.fallback,
        }
        for p, r in results.items()
    },
}
out_dir = stage_dir(cfg["run_dir"], "04_postprocess", create=True)
(out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
np.savez_compressed(
    out_dir / "sample.npz",
    image=image.numpy(),
    low_res=low,
    high_res=high,
    **{f"refined_{p}": r.refined for p, r in results.items()},
)
summary
