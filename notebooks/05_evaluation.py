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
# # Localization, measured
#
# The paper judges its refined CAMs by eye (Figs. 2–4); nothing in it is quantitative about
# localization. The built-in dataset has an exact object mask for every image, so here the
# maps are *measured* on the validation split, each explaining the class the classifier
# predicts, with `hrcam.evaluate`:
#
# - **pointing game** {cite:p}`zhang2016pointing`: a hit when the map's maximum lies on the
#   object; the **energy** variant is the share of the map's mass on the object;
# - **mask IoU** at the best shared threshold and **PxAP** {cite:p}`choe2020wsol`, the area
#   under the pixel precision–recall curve, which needs no threshold;
# - **MaxBoxAccV2** {cite:p}`choe2020wsol` against the object's box;
# - faithfulness (on the first images only: each costs many forward passes): the drop in
#   confidence when only the map's region is kept, deletion/insertion curves, and **ROAD**
#   {cite:p}`rong2022road`, which fills the removed pixels from their neighbours so that the
#   removal's own shape cannot tell the classifier anything (grad-cam's implementation).
#
# Besides the companion's four maps (low-res, high-res, both refined presets), Grad-CAM,
# Grad-CAM++, LayerCAM and Score-CAM from the `grad-cam` package are scored on the same
# classifier as baselines, at the CAM head. Five *high-resolution* competitors follow, each
# from a maintained package (`hrcam.methods.hires`): grad-cam's LayerCAM on several backbone
# stages fused by element-wise maximum, FullGrad, and HiResCAM on a mid-resolution stage; and
# the bilinear low-res CAM refined by a fully connected CRF (`pydensecrf2`) or by a guided
# filter (OpenCV's `ximgproc`), both with the image as the pairwise term or guide. Every table,
# per-image score and curve is written to `run_dir/evaluation/`.

# %% tags=["parameters"]
profile = "demo"
run_dir = "runs/demo"
# None means "use the profile's value" (see hrcam/book/profiles.py).
device = None
max_eval_images = None
batch_size = None
slow_metric_images = None
road_images = None

# %%
from hrcam.book import notebook_config

cfg = notebook_config("05_evaluation", globals())
cfg

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
from IPython.display import Markdown
from myst_nb import glue

from hrcam import plotting
from hrcam.book import load_run, stage_dir
from hrcam.evaluate import evaluate

model, val = load_run(cfg["run_dir"], cfg["device"], require_masks=True)
result = evaluate(
    model,
    val,
    limit=cfg["max_eval_images"],
    batch_size=cfg["batch_size"],
    score_cam_limit=cfg["slow_metric_images"],
    faithfulness_limit=cfg["slow_metric_images"],
    road_limit=cfg["road_images"],
    progress=False,
)
paths = result.save(stage_dir(cfg["run_dir"], "05_evaluation", create=True))
print(f"{result.config['num_images']} images; written: {', '.join(p.name for p in paths.values())}")

# %% [markdown]
# The report below is `run_dir/evaluation/report.md` (its title dropped); every score is a
# mean with a bootstrap 95 % confidence interval.

# %%
# No title of its own, and its §5 part under a bold line: the page has its headings.
Markdown(result.to_markdown(title=False, section_headings=False))

# %%
fig = plotting.metric_bars(result, title=f"{result.config['num_images']} validation images")
glue("fig-localization", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig-localization
# :name: fig-localization
#
# Localization against the ground-truth masks and boxes (not in the paper): mean score of each
# method with 95 % bootstrap intervals; higher is better.
# ```
#
# What to look for: the high-res CAM was trained without labels, so alone it is expected to
# localize poorly; the refined CAMs should beat the resized low-res CAM when region growing
# works, and match it when the pipeline falls back to it.

# %%
fig = plotting.win_fail_examples(result, methods=["low_res_cam", "refined_paper"])
glue("fig-win-fail", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig-win-fail
# :name: fig-win-fail
#
# The images on which the low-res CAM and the paper's refined CAM score best and worst
# (energy pointing game), with the object's outline (not in the paper).
# ```
