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
# # Classifier pre-training
#
# The first part of the framework (paper Sec. 3.1 and 4.2) is an ordinary image classifier
# that ends in global average pooling (GAP) and one fully connected layer, so that it can
# produce a class activation map (CAM) for any class. As in the reference code, a 1×1
# convolution narrows the last feature maps to $k=16$ channels before GAP; the low-res CAM of
# class $c$ is then $M_c(x,y)=\sum_k w^c_k f_k(x,y)$ on the backbone's output grid.
#
# The paper trains a DenseNet with adadelta on a cross-entropy loss for 50 epochs, with flips,
# rotations, scaling, translation and shear, each with probability 0.5. The `paper` profile
# does exactly that; the `demo` and `smoke` profiles use a compact DenseNet and a few epochs
# so that the run fits on a laptop CPU. The trained weights go to `run_dir/classifier`.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
seed = None
device = None
num_workers = None
arch = None
classifier_epochs = None
batch_size = None
augment = None
resume = None

# %%
from hrcam.book import notebook_config

cfg = notebook_config("02_classifier", globals())
cfg

# %%
# %matplotlib inline
from myst_nb import glue

from hrcam import plotting
from hrcam.book import stage_dir
from hrcam.train import train_classifier

result = train_classifier(
    data_root=stage_dir(cfg["run_dir"], "01_dataset"),
    run_dir=stage_dir(cfg["run_dir"], "02_classifier"),
    arch=cfg["arch"],
    epochs=cfg["classifier_epochs"],
    batch_size=cfg["batch_size"],
    augment=cfg["augment"],
    seed=cfg["seed"],
    device=cfg["device"],
    num_workers=cfg["num_workers"],
    resume=cfg["resume"],
    progress=False,
)
print(result.summary())

# %% [markdown]
# Training and validation curves, one point per epoch. The validation accuracy tells how
# much to trust the CAMs in the rest of the book: a classifier that is still guessing also
# looks at the wrong places.

# %%
glue(
    "fig-classifier-curves",
    plotting.training_curves(result.history, title=f"{cfg['arch']} classifier"),
    display=False,
)

# %% [markdown]
# ```{glue:figure} fig-classifier-curves
# :name: fig-classifier-curves
#
# Classifier pre-training (the paper's Sec. 4.2 reports only the peak top-1 validation accuracy,
# 47.9 % on ImageNet animals).
# ```
