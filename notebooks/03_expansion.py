# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: mystnb,tags,-all
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
# # Expansion network
#
# The second part of the framework (paper Sec. 3.2 and 4.3) grows the frozen classifier's
# intermediate feature maps back to the input resolution, through skip connections, in the
# style of the FC-DenseNet ("Tiramisu") decoder. It is trained *without labels*: its target
# is the input image itself (mean squared error), with adadelta. Because the classifier's
# weights stay frozen, its predictions and low-res CAMs never change.
#
# The last full-resolution feature maps have the same $k$ channels as the classifier's CAM
# head, so the same class weights $w^c_k$ turn them into a *high-res CAM*. This notebook
# trains the network on a GPU when one is present (the profile's `device`), shows a few
# reconstructions, and writes the combined model to `run_dir/expansion`.

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

# %%
from hrcam.book import notebook_config

cfg = notebook_config("03_expansion", globals())
cfg

# %%
# %matplotlib inline
import numpy as np
import torch
from myst_nb import glue

from hrcam import plotting
from hrcam.book import stage_dir
from hrcam.data.store import StoreDataset
from hrcam.models import denormalize_images, load_checkpoint, normalize_images
from hrcam.train import train_expansion

data_root = stage_dir(cfg["run_dir"], "01_dataset")
result = train_expansion(
    data_root=data_root,
    run_dir=stage_dir(cfg["run_dir"], "03_expansion"),
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
    progress=False,
)
print(result.summary())

# %%
glue(
    "fig-expansion-curves",
    plotting.training_curves(result.history, title="expansion network"),
    display=False,
)

# %% [markdown]
# ```{glue:figure} fig-expansion-curves
# :name: fig-expansion-curves
#
# Expansion-network training: reconstruction loss per epoch (paper Sec. 4.3; the paper shows no
# curve).
# ```

# %% [markdown]
# ## Does localization improve while the expansion network learns?
#
# Reconstruction is the training signal, but the paper's point is localization. With
# `eval_every` > 0 (the profile's value here), every `eval_every` epochs and after the last one
# the training loop scores the four maps on the first `eval_images` validation images against
# their ground-truth masks: PxAP, mask IoU at the best threshold shared by the images, and
# for both refined presets the share of images where region growing failed and the map fell
# back to the low-res CAM. These are the `loc_*` columns of `run_dir/expansion/metrics.csv`,
# beside MSE and PSNR. The classifier is frozen, so the low-res CAM's line is flat by
# construction; the question is whether the refined lines rise above it.

# %%
from hrcam import plotting

if cfg["eval_every"]:
    fig = plotting.localization_over_epochs(
        result.history, title=f"first {cfg['eval_images']} validation images"
    )
else:
    fig = plotting.not_measured("eval_every is 0 in this profile: not recorded")
glue("fig-expansion-localization", fig, display=False)

# %% [markdown]
# ```{glue:figure} fig-expansion-localization
# :name: fig-expansion-localization
#
# Localization of the low-res, high-res and both refined CAMs over expansion training
# (not in the paper). Left: PxAP; middle: best-threshold mask IoU; right: fallback rate of the
# refined presets. {doc}`07_evidence` asks which part of the pipeline limits the refined CAM.
# ```

# %% [markdown]
# The reconstruction is only the training signal; what matters later is that the
# full-resolution features carry the object's shape. Validation images (top) and their
# reconstructions (bottom):

# %%
model = load_checkpoint(result.best_checkpoint).model().eval()
val = StoreDataset(data_root, "val")
images = val.get_batch(np.arange(min(6, len(val))))["image"]
with torch.no_grad():
    recon = model(normalize_images(images)).reconstruction
glue(
    "fig-expansion-reconstructions",
    plotting.reconstruction_grid(images, denormalize_images(recon)),
    display=False,
)

# %% [markdown]
# ```{glue:figure} fig-expansion-reconstructions
# :name: fig-expansion-reconstructions
#
# Validation images and the expansion network's reconstructions. The paper shows no such figure.
# ```
