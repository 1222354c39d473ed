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
# # Dataset construction
#
# The paper trains on the 398 animal classes of ILSVRC-2012 (Sec. 4.1), chosen because they
# are large, high-resolution and *homogeneous*: several cat breeds, many dogs, and so on.
# ImageNet cannot be downloaded on the machines that build this book, and it has no object
# masks, so localization could not be measured on it anyway. The default profiles therefore
# use the companion's built-in synthetic dataset: beetle-like figures of one body plan whose
# classes differ only in fine detail (pattern, pattern period, build), on cluttered
# backgrounds, each with its exact object mask. It is generated deterministically from a seed.
#
# This notebook writes the dataset into the run folder (`run_dir/data`); every later notebook
# reads it from there. With `-p dataset imagenet -p data_root /path/to/ILSVRC2012` (the
# `paper` profile) it converts the 398 animal classes of a local ImageNet copy instead; those
# images have no masks, so notebooks 5 and 6, which measure localization, need the synthetic
# set. Every dataset of `hrcam data` works here (`-p dataset pets`, `imagenette`), through the
# same `hrcam.data.build_dataset`.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
seed = None
dataset = None
data_root = None
num_classes = None
image_size = None
num_train = None
num_val = None

# %%
from hrcam.book import notebook_config

cfg = notebook_config("01_dataset", globals())
cfg

# %%
# %matplotlib inline
import numpy as np
from myst_nb import glue

from hrcam import plotting
from hrcam.book import stage_dir
from hrcam.data import StoreDataset, build_dataset

# The same builders as `hrcam data NAME`: a generated set takes the sizes and the seed, a real
# one needs -p data_root and converts every image of its folder.
info = build_dataset(
    cfg["dataset"],
    stage_dir(cfg["run_dir"], "01_dataset"),
    root=cfg["data_root"],
    image_size=cfg["image_size"],
    seed=cfg["seed"],
    num_classes=cfg["num_classes"],
    num_train=cfg["num_train"],
    num_val=cfg["num_val"],
    progress=False,
).info
train = StoreDataset(info.root, "train")
val = StoreDataset(info.root, "val")
print(f"{len(train)} training and {len(val)} validation images of {train.image_size} px")
print(f"{len(train.classes)} classes: {', '.join(train.classes)}")

# %% [markdown]
# Images per class in each split (the generator draws labels uniformly):

# %%
from IPython.display import Markdown

counts = {split: np.bincount(ds.labels, minlength=len(ds.classes))
          for split, ds in (("train", train), ("val", val))}  # fmt: skip
# A small table rather than the raw dict (398 numbers per split at the paper's scale).
Markdown("| Split | images | classes | fewest per class | most per class |\n|---|---|---|---|---|\n"
         + "\n".join(f"| {split} | {c.sum()} | {len(c)} | {c.min()} | {c.max()} |"
                      for split, c in counts.items()))  # fmt: skip

# %% [markdown]
# A few training images, titled by class, with the ground-truth object mask outlined in
# yellow. The classes share a silhouette, so the classifier has to look at the texture on the
# object: this is what makes a good CAM land *on* the object.

# %%
batch = train.read_arrays(np.arange(min(8, len(train))))
glue(
    "fig-dataset-samples",
    plotting.dataset_grid(batch["images"], batch["labels"], train.classes, batch.get("masks")),
    display=False,
)

# %% [markdown]
# ```{glue:figure} fig-dataset-samples
# :name: fig-dataset-samples
#
# Sample training images with their ground-truth masks (yellow). The paper has no such figure:
# ImageNet provides no masks.
# ```
