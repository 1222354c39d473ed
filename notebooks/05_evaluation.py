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
# ---

# %% [markdown]
# # Localization, measured
#
# The paper judges its refined CAMs by eye (Figs. 2–4); nothing in it is quantitative about
# localization. The built-in dataset has an exact object mask for every image, so here the
# maps are *measured* on the validation split, each for the class the classifier predicts:
#
# - **pointing game** {cite:p}`zhang2016pointing`: a hit when the map's maximum lies on the
#   object (the share of hits);
# - **energy pointing game**: the share of the map's mass that falls on the object;
# - **best mask IoU**: the IoU between the thresholded map and the object mask, at each image's
#   best threshold (an optimistic oracle);
# - **PxAP** {cite:p}`choe2020wsol`: the area under the pixel precision–recall curve, which
#   needs no threshold.
#
# All maps are min-max normalised first. The CAMs computed here are also written to
# `run_dir/evaluation/cams.npz`, which {doc}`06_paper_vs_reference` reuses.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/profiles.py).
device = None
max_eval_images = None
batch_size = None

# %%
from hrcam.profiles import notebook_config

cfg = notebook_config("05_evaluation", globals())
cfg

# %%
# %matplotlib inline
import json

import numpy as np
import torch
from myst_nb import glue

from hrcam import metrics, plotting
from hrcam.data.store import StoreDataset
from hrcam.models import high_res_cam, load_checkpoint, low_res_cam, normalize_images
from hrcam.postprocess import refine
from hrcam.profiles import stage_dir
from hrcam.train.device import resolve_device

dev = resolve_device(cfg["device"])
model = (
    load_checkpoint(stage_dir(cfg["run_dir"], "03_expansion") / "best.pt", map_location=dev)
    .model()
    .eval()
)
val = StoreDataset(stage_dir(cfg["run_dir"], "01_dataset"), "val")
n = min(cfg["max_eval_images"], len(val))
lows, highs, masks, labels, preds = [], [], [], [], []
for start in range(0, n, cfg["batch_size"]):
    batch = val.get_batch(np.arange(start, min(n, start + cfg["batch_size"])))
    with torch.no_grad():
        out = model(normalize_images(batch["image"]).to(dev))
    pred = out.logits.argmax(dim=1)
    fc = model.classifier.fc.weight
    lows.append(low_res_cam(out.cam_features, fc, pred).cpu().numpy())
    highs.append(high_res_cam(out.hr_features, fc, pred).cpu().numpy())
    masks.append(batch["mask"].numpy())
    labels.append(batch["label"].numpy())
    preds.append(pred.cpu().numpy())
cams = {
    "low_res": np.concatenate(lows),
    "high_res": np.concatenate(highs),
    "masks": np.concatenate(masks),
    "labels": np.concatenate(labels),
    "predicted": np.concatenate(preds),
}
accuracy = float(np.mean(cams["labels"] == cams["predicted"]))
print(f"{n} validation images, top-1 accuracy {accuracy:.3f}")

# %% [markdown]
# Each image's two CAMs are refined with both presets, and every map is scored against the
# ground-truth mask. The low-res CAM is compared after the same bilinear resize that the
# pipeline applies.

# %%
maps = {"low-res CAM": [], "high-res CAM": [], "refined (paper)": [], "refined (reference)": []}
for low, high in zip(cams["low_res"], cams["high_res"], strict=True):
    results = {p: refine(low, high, preset=p) for p in ("paper", "reference")}
    maps["low-res CAM"].append(results["paper"].low_res_resized)
    maps["high-res CAM"].append(results["paper"].high_res)
    maps["refined (paper)"].append(results["paper"].refined)
    maps["refined (reference)"].append(results["reference"].refined)
scorers = {
    "pointing game": metrics.pointing_game,
    "energy pointing": metrics.energy_pointing_game,
    "best mask IoU": lambda cam, mask: metrics.best_mask_iou(cam, mask)[0],
    "PxAP": metrics.pxap,
}
scores = {
    method: {
        name: float(np.mean([score(m, k) for m, k in zip(ms, cams["masks"], strict=True)]))
        for name, score in scorers.items()
    }
    for method, ms in maps.items()
}
out_dir = stage_dir(cfg["run_dir"], "05_evaluation", create=True)
np.savez_compressed(out_dir / "cams.npz", **cams)
(out_dir / "metrics.json").write_text(
    json.dumps({"num_images": n, "accuracy": accuracy, "scores": scores}, indent=2)
)
scores

# %%
glue(
    "fig-localization", plotting.metric_bars(scores, title=f"{n} validation images"), display=False
)

# %% [markdown]
# ```{glue:figure} fig-localization
# :name: fig-localization
#
# Localization against the ground-truth masks (not in the paper): mean scores of the low-res,
# high-res and refined CAMs over the validation images. Higher is better for every score.
# ```
#
# What to look for: the high-res CAM alone was trained without labels, so it is expected to
# localize poorly; the refined CAM should beat the resized low-res CAM when region growing
# works, and match it when the pipeline falls back.
