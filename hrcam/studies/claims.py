"""The paper's claims against the measurements of a book run ("What the evidence says").

:func:`claim_values` reads what notebooks 02-07 wrote into a run folder and returns every
number the claims page shows, by name, with a verdict in words for each paired difference.
The page glues these values; it types no number itself.

>>> values = claim_values("runs/demo")  # doctest: +SKIP
>>> values["refined_paper_diff"], values["refined_paper_verdict"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hrcam.book.profiles import stage_dir
from hrcam.core.tables import ci_text, find_row, json_safe, put_ci
from hrcam.evaluate.results import save_outputs
from hrcam.metrics.statistics import TOO_FEW_TO_JUDGE, can_judge
from hrcam.studies.refine import verdict

__all__ = [
    "any_cnn_text",
    "beyond_values",
    "claim_values",
    "notebook_costs",
    "photo_faithfulness_text",
    "save_claims",
    "two_column_table",
]

PRESETS = ("paper", "reference")


def _read(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run notebook 07_evidence first")
    return json.loads(path.read_text(encoding="utf-8"))


def _rescue_values(section5: dict[str, Any]) -> dict[str, Any]:
    """Paper §5, first half: how often each preset rescues a failed low-res CAM, with its verdict.

    No verdict from fewer than :data:`~hrcam.metrics.statistics.MIN_VERDICT_UNITS` misses.
    """
    out: dict[str, Any] = {}
    for p in PRESETS:
        miss = section5[f"{p}@expansion"]["miss"]
        out["n_lowres_miss"] = int(miss["n"])
        if miss["n"]:
            put_ci(out, f"rescue_{p}", miss, "difference")
            out[f"rescue_{p}_rate"] = float(miss["method_mean"])
            out[f"rescue_{p}_verdict"] = (
                verdict(miss["ci_low"], miss["ci_high"], better="rescues some failures",
                        worse="worse than the low-res CAM")
                if can_judge(miss["n"])
                else f"{TOO_FEW_TO_JUDGE} ({miss['n']} low-res misses)"
            )  # fmt: skip
        else:
            for suffix in ("", "_lo", "_hi", "_rate"):
                out[f"rescue_{p}{suffix}"] = math.nan
            out[f"rescue_{p}_verdict"] = "not measured: the low-res CAM never missed"
    return out


def claim_values(run_dir: str | Path) -> dict[str, Any]:
    """Every number and verdict of the claims page, read from ``run_dir``.

    Parameters
    ----------
    run_dir
        A run folder in which notebooks 01-07 ran.

    Returns
    -------
    dict
        Floats (means and CI bounds: ``<key>``, ``<key>_lo``, ``<key>_hi``), ints (counts)
        and strings (``*_verdict``, ``arch``).
    """
    ev = stage_dir(run_dir, "07_evidence")
    sources = _read(ev / "sources" / "summary.json")
    table, paired = sources["table"], sources["paired"]
    out: dict[str, Any] = {"n_images": int(sources["config"]["num_images"]), "ci_level": 0.95}
    put_ci(out, "lowres_pxap", find_row(table, "low_res_cam", "pxap"), "mean")
    put_ci(out, "lowres_iou", find_row(table, "low_res_cam", "mask_iou"), "mean")
    put_ci(out, "rawhigh_pxap", find_row(table, "raw@expansion", "pxap"), "mean")
    put_ci(out, "raworacle_pxap", find_row(table, "raw@oracle", "pxap"), "mean")
    out["crude_verdict"] = (
        "supported: the low-res CAM's PxAP is clearly below a mask-shaped map's"
        if out["lowres_pxap_hi"] < out["raworacle_pxap_lo"]
        else "not shown"
    )
    for p in PRESETS:
        for source, key in (("expansion", "refined"), ("oracle", "oracle"), ("noise", "noise"),
                            ("image", "image")):  # fmt: skip
            d = find_row(paired, f"{p}@{source}", "pxap")
            put_ci(out, f"{key}_{p}_diff", d, "difference")
            out[f"{key}_{p}_verdict"] = verdict(d["ci_low"], d["ci_high"])
            put_ci(
                out,
                f"{key}_{p}_fallback",
                find_row(table, f"{p}@{source}", "fallback_rate"),
                "mean",
            )
        d = find_row(paired, f"{p}@expansion", "mask_iou_oracle")
        put_ci(out, f"refined_{p}_iou_diff", d, "difference")
        out[f"refined_{p}_share_better"] = float(
            find_row(paired, f"{p}@expansion", "pxap")["share_better"]
        )
        # §5, high-res map fails: "regresses to the low-res map" means no worse than it.
        d = find_row(paired, f"{p}@noise", "pxap")
        out[f"noise_{p}_verdict"] = verdict(
            d["ci_low"], d["ci_high"], better="better than the low-res CAM",
            worse="not supported: worse than the low-res CAM, it does not regress to it",
        )  # fmt: skip
    between = _read(ev / "between.json")
    for key, name in (("paper: expansion minus image", "exp_image_paper"),
                      ("reference: expansion minus image", "exp_image_reference"),
                      ("paper minus reference", "paper_reference")):  # fmt: skip
        put_ci(out, name, between[key], "difference")
        out[f"{name}_verdict"] = verdict(between[key]["ci_low"], between[key]["ci_high"])
    out.update(_rescue_values(_read(ev / "section5.json")))
    unchanged = _read(ev / "unchanged.json")
    out["unchanged_max_logit_diff"] = float(unchanged["max_abs_logit_diff"])
    out["unchanged_agreement"] = float(unchanged["prediction_agreement"])
    out["unchanged_images"] = int(unchanged["num_images"])
    out["unchanged_verdict"] = (
        "supported: identical logits"
        if unchanged["max_abs_logit_diff"] == 0.0
        else "supported to float precision"
        if unchanged["max_abs_logit_diff"] < 1e-4 and unchanged["prediction_agreement"] == 1.0
        else "not supported: the classifier's outputs changed"
    )
    variants = _read(ev / "variants.json")
    out["variants"] = ", ".join(dict.fromkeys(r["variant"] for r in variants["rows"]))
    accuracy = {v["variant"]: v["accuracy"] for v in variants.get("summaries", [])}

    def name(r: dict[str, Any]) -> str:
        # A variant whose classifier barely learned has a useless low-res CAM: say so.
        acc = accuracy.get(r["variant"])
        note = "" if acc is None else f", classifier accuracy {acc:.0%}"
        return f"{r['variant']} ({r['config']}{note})"

    wins = [name(r) for r in variants["rows"] if r["ci_low"] > 0]
    losses = [name(r) for r in variants["rows"] if r["ci_high"] < 0]
    out["variant_wins"] = ", ".join(wins) or "none"
    out["variant_losses"] = ", ".join(losses) or "none"
    for r in variants["rows"]:
        put_ci(out, f"variant_{r['variant']}_{r['config']}_diff", r, "difference")
    out["arch"] = _arch(run_dir)
    out["conclusion"] = conclusion(out)
    return out


def beyond_values(run_dir: str | Path) -> dict[str, Any]:
    """Read the numbers and sentences of the "Beyond the paper" page, as it saved them.

    Parameters
    ----------
    run_dir
        A run folder in which notebook 09 ran (it writes ``beyond/values.json``, see
        :func:`hrcam.studies.comparison.page_values`).

    Returns
    -------
    dict
        The page's values under ``beyond_<key>`` (``null`` read back as NaN).
    """
    path = stage_dir(run_dir, "09_beyond_the_paper") / "values.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run notebook 09_beyond_the_paper first")
    saved = json.loads(path.read_text(encoding="utf-8"))
    return {f"beyond_{k}": math.nan if v is None else v for k, v in saved.items()}


def photo_faithfulness_text(run_dir: str | Path) -> str:
    """Return what the photo-faithfulness chapter (notebook 12) concluded, as it saved it.

    A sentence saying the chapter did not run when its values are missing (skipped with
    ``-p photo_faithfulness false``, or not run yet).
    """
    from hrcam.studies.photo_faithfulness import photo_summary

    saved = photo_summary(stage_dir(run_dir, "12_photo_faithfulness"))
    if saved is None:
        return "The photo-faithfulness chapter did not run in this run folder."
    where = f"On {saved['photos']} untouched animal photos (predicted class): "
    if not saved.get("expansion_trained", True):
        where += "(without the cut-out chapter's expansion network, so without its maps) "
    scale = f" Scale: {saved['scale']}." if saved.get("scale") else ""
    return (where + saved["statement"] + " " + saved.get("faithfulness_text", "") + scale).strip()


def _arch(run_dir: str | Path) -> str:
    from hrcam.models import load_checkpoint

    path = stage_dir(run_dir, "02_classifier") / "best.pt"
    if not path.is_file():
        return "unknown"
    return str(load_checkpoint(path).metadata.get("arch", "unknown"))


def notebook_costs(run_dir: str | Path) -> dict[str, float]:
    """Seconds each notebook took when it last ran (``run_dir/timings.json`` of ``hrcam book``).

    Returns
    -------
    dict
        ``{notebook stem: seconds}``; empty when the notebooks were not run by ``hrcam book``.
    """
    path = Path(run_dir) / "timings.json"
    if not path.is_file():
        return {}
    return {k: float(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


def save_claims(values: dict[str, Any], out_dir: str | Path) -> Path:
    """Write the claim values to ``out_dir/claims.json`` (NaN as null) and return the path."""
    return save_outputs(out_dir, {"claims.json": json_safe(values)})["claims"]


def _cmp(values: dict[str, Any], key: str) -> str:
    """``"better"``, ``"worse"`` or ``"no different"`` from the CI of ``key``."""
    lo, hi = values[f"{key}_lo"], values[f"{key}_hi"]
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "not measurably different"


def conclusion(values: dict[str, Any]) -> str:
    """Compose the reviewer's summary from the verdicts of :func:`claim_values`.

    Each sentence is chosen by the sign of a 95 % interval, so the text follows the run: it
    says which presets beat the low-res CAM, whether the expansion network beats the image
    as a high-res map, and whether an oracle high-res map would let the post-processing win.
    """
    parts = []
    refined = {p: _cmp(values, f"refined_{p}_diff") for p in PRESETS}
    parts.append(
        "Against the resized low-res CAM (PxAP, same images), the refined CAM is "
        + " and ".join(f"{refined[p]} with the `{p}` preset" for p in PRESETS)
        + "."
    )
    exp = {p: _cmp(values, f"exp_image_{p}") for p in PRESETS}
    if all(v != "better" for v in exp.values()):
        parts.append(
            "The expansion network's high-res CAM does no better than the image's own "
            "luminance as the post-processing's high-res map, so this run shows no "
            "contribution of the expansion network beyond the raw pixels."
        )
    else:
        parts.append(
            "The expansion network's high-res CAM beats the image's luminance as the "
            "high-res map with: " + ", ".join(f"`{p}`" for p in PRESETS if exp[p] == "better") + "."
        )
    oracle = {p: _cmp(values, f"oracle_{p}_diff") for p in PRESETS}
    if any(v == "better" for v in oracle.values()):
        wins = ", ".join(f"`{p}`" for p in PRESETS if oracle[p] == "better")
        parts.append(
            f"With an oracle high-res map made from the true mask the refined CAM does beat "
            f"the low-res CAM ({wins}): the post-processing can add detail when the high-res "
            "map is good enough, so the quality of the high-res map is one limit."
        )
    else:
        parts.append(
            "Even an oracle high-res map made from the true mask does not lift the refined "
            "CAM clearly above the low-res CAM: the post-processing itself (bounds, size "
            "test, blend) limits the result, whatever the high-res map."
        )
    noise = {p: _cmp(values, f"noise_{p}_diff") for p in PRESETS}
    if any(v == "worse" for v in noise.values()):
        parts.append(
            "When the high-res map is noise, the refined CAM ends up worse than the low-res "
            "CAM with "
            + ", ".join(f"`{p}`" for p in PRESETS if noise[p] == "worse")
            + ": the §5 fallback does not catch every failed growth, so the claim that the "
            "blend regresses to the low-res map holds only partly."
        )
    else:
        parts.append(
            "When the high-res map is noise, the refined CAM is no worse than the low-res CAM: "
            "in this respect the §5 robustness claim holds."
        )
    parts.append(
        "These sentences are measurements on synthetic data at CPU scale; the table of each "
        "claim twice above answers the same questions on real animal photographs with a real "
        "ImageNet classifier, still far from the paper's ImageNet-scale training."
    )
    return " ".join(parts)


def summary_rows(values: dict[str, Any]) -> list[dict[str, Any]]:
    """List the page's paired differences for :func:`hrcam.plotting.evidence.paired_differences`.

    Returns
    -------
    list of dict
        ``label``, ``difference``, ``ci_low``, ``ci_high`` (PxAP), in the page's order.
    """
    items = [(f"refined ({p}) minus low-res", f"refined_{p}_diff") for p in PRESETS]
    items += [(f"expansion minus image as high-res map ({p})", f"exp_image_{p}") for p in PRESETS]
    items += [(f"refined with oracle map ({p}) minus low-res", f"oracle_{p}_diff") for p in PRESETS]
    items += [(f"refined with noise map ({p}) minus low-res", f"noise_{p}_diff") for p in PRESETS]
    items.append(("paper minus reference preset", "paper_reference"))
    rows = []
    for label, key in items:
        rows.append({"label": label, "difference": values[key], "ci_low": values[f"{key}_lo"],
                     "ci_high": values[f"{key}_hi"]})  # fmt: skip
    return rows


# Each claim of the paper as a row of the two-column table: the synthetic key (claim_values)
# and the real cut-out key (hrcam.studies.cutouts.cutout_values) of the same measurement.
_TWO_COLUMN_ROWS = (
    ("Low-res CAMs are crude (§1): low-res CAM PxAP", "lowres_pxap", "cut_low_res_cam_pxap"),
    ("… and a mask-shaped map's PxAP", "raworacle_pxap", "cut_raworacle_pxap"),
    ("Refined CAMs add detail (§3.3): refined − low-res PxAP, `paper`", "refined_paper_diff",
     "cut_refined_paper_diff"),
    ("… `reference` preset", "refined_reference_diff", "cut_refined_reference_diff"),
    ("The expansion network carries it: expansion − image as high-res map, `paper`",
     "exp_image_paper", "cut_exp_image_paper"),
    ("… `reference` preset", "exp_image_reference", "cut_exp_image_reference"),
    ("Robust when the high-res map fails (§5): noise map, refined − low-res, `paper`",
     "noise_paper_diff", "cut_hard_paper_noise"),
    ("… `reference` preset", "noise_reference_diff", "cut_hard_reference_noise"),
    ("Paper vs its code: `paper` − `reference` refined PxAP", "paper_reference",
     "cut_paper_reference"),
)  # fmt: skip


def _cell(values: dict[str, Any] | None, key: str, paired: bool, units: int) -> str:
    if values is None or key not in values:
        return "not measured"
    fmt = "+.3f" if paired else ".3f"
    text = ci_text(values, key, fmt)
    if paired:
        words = verdict(values[key + "_lo"], values[key + "_hi"])
        text += f" ({words if can_judge(units) else TOO_FEW_TO_JUDGE})"
    return text


def _cutout_units(cutouts: dict[str, Any]) -> int:
    """Independent units behind the cut-out column: stamps where recorded, else images."""
    return int(cutouts.get("cut_stamps", cutouts.get("cut_images", 0)))


def two_column_table(synthetic: dict[str, Any], cutouts: dict[str, Any] | None) -> str:
    """Answer each claim twice, on the synthetic scenes and on the real cut-outs (Markdown).

    Parameters
    ----------
    synthetic
        :func:`claim_values` of the run.
    cutouts
        The real cut-out chapter's values (:func:`hrcam.studies.cutouts.cutout_summary`), or
        ``None`` when that chapter did not run: its column then says "not measured".
    """
    synth_head = f"Synthetic scenes ({synthetic['n_images']} independent images)"
    cut_head = "Real animal cut-outs"
    n_cut = 0
    if cutouts is not None:
        n_cut = _cutout_units(cutouts)
        cut_head += f" ({cutouts['cut_images']} images of {n_cut} stamps; CIs over stamps)"
    lines = [
        f"| Claim (PxAP, 95% CI) | {synth_head} | {cut_head} |",
        "|---|---|---|",
    ]
    for label, synth_key, cut_key in _TWO_COLUMN_ROWS:
        paired = not synth_key.endswith("pxap")
        lines.append(
            f"| {label} | {_cell(synthetic, synth_key, paired, synthetic['n_images'])} | "
            f"{_cell(cutouts, cut_key, paired, n_cut)} |"
        )
    return "\n".join(lines)


def any_cnn_text(synthetic: dict[str, Any], cutouts: dict[str, Any] | None) -> str:
    """Answer "works on any CAM-capable CNN" from the real cut-out chapter's numbers."""
    if cutouts is None:
        return (
            f"Not shown: the localization numbers come from one architecture "
            f"({synthetic['arch']}), and the real cut-out chapter did not run."
        )
    n_stamps = _cutout_units(cutouts)
    words = {
        p: verdict(cutouts[f"cut_refined_{p}_diff_lo"], cutouts[f"cut_refined_{p}_diff_hi"])
        if can_judge(n_stamps) else TOO_FEW_TO_JUDGE
        for p in PRESETS
    }  # fmt: skip
    return (
        "On a second CNN, EfficientNet-Lite0 trained by others on ImageNet and wrapped without "
        f"changing its weights, the method runs end to end; on {cutouts['cut_images']} real "
        f"animal cut-outs of {n_stamps} stamps its refined CAM against its own low-res CAM "
        "(PxAP, intervals over stamps) is "
        + " and ".join(f"{words[p]} (`{p}`)" for p in PRESETS)
        + f" (the classifier's top-1 over the 398 animal classes: {cutouts['cut_top1']:.0%})."
        + (f" Scale: {cutouts['cut_scale']}." if cutouts.get("cut_scale") else "")
    )


def front_text(cutouts: dict[str, Any] | None) -> str:
    """Name the methods on the real cut-outs' cost–quality front (chapter 10), with their PxAP.

    A method is on the front when no other method has both a higher PxAP and a lower cost
    per image (:func:`hrcam.evaluate.front.pareto_front`).
    """
    from hrcam.methods.registry import method_label

    if not cutouts or not cutouts.get("front"):
        return "The real cut-out chapter did not run, so no cost–quality front was measured."
    names = []
    for m in cutouts["front"]:
        pxap = cutouts.get(f"cut_{m}_pxap")
        names.append(method_label(m) + (f" (PxAP {pxap:.3f})" if pxap is not None else ""))
    return (
        "On the real cut-outs, cheapest first, the methods that no other method beats on both "
        "PxAP and cost per image are: " + "; ".join(names) + "."
    )
