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

from hrcam.evidence import verdict
from hrcam.profiles import stage_dir

__all__ = ["claim_values", "notebook_costs", "save_claims"]

PRESETS = ("paper", "reference")


def _read(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run notebook 07_evidence first")
    return json.loads(path.read_text(encoding="utf-8"))


def _row(rows: list[dict[str, Any]], method: str, metric: str) -> dict[str, Any]:
    for r in rows:
        if r["method"] == method and r["metric"] == metric:
            return r
    raise KeyError(f"no {metric!r} row for {method!r}")


def _put_ci(out: dict[str, Any], key: str, row: dict[str, Any], mean: str = "mean") -> None:
    out[key] = float(row[mean])
    out[f"{key}_lo"] = float(row["ci_low"])
    out[f"{key}_hi"] = float(row["ci_high"])


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
    _put_ci(out, "lowres_pxap", _row(table, "low_res_cam", "pxap"))
    _put_ci(out, "lowres_iou", _row(table, "low_res_cam", "mask_iou"))
    _put_ci(out, "rawhigh_pxap", _row(table, "raw@expansion", "pxap"))
    _put_ci(out, "raworacle_pxap", _row(table, "raw@oracle", "pxap"))
    out["crude_verdict"] = (
        "supported: the low-res CAM's PxAP is clearly below a mask-shaped map's"
        if out["lowres_pxap_hi"] < out["raworacle_pxap_lo"]
        else "not shown"
    )
    for p in PRESETS:
        for source, key in (("expansion", "refined"), ("oracle", "oracle"), ("noise", "noise"),
                            ("image", "image")):  # fmt: skip
            d = _row(paired, f"{p}@{source}", "pxap")
            _put_ci(out, f"{key}_{p}_diff", d, "difference")
            out[f"{key}_{p}_verdict"] = verdict(d["ci_low"], d["ci_high"])
            _put_ci(out, f"{key}_{p}_fallback", _row(table, f"{p}@{source}", "fallback_rate"))
        d = _row(paired, f"{p}@expansion", "mask_iou_oracle")
        _put_ci(out, f"refined_{p}_iou_diff", d, "difference")
        out[f"refined_{p}_share_better"] = float(
            _row(paired, f"{p}@expansion", "pxap")["share_better"]
        )
        # §5, high-res map fails: "regresses to the low-res map" means no worse than it.
        d = _row(paired, f"{p}@noise", "pxap")
        out[f"noise_{p}_verdict"] = verdict(
            d["ci_low"], d["ci_high"], better="better than the low-res CAM",
            worse="not supported: worse than the low-res CAM, it does not regress to it",
        )  # fmt: skip
    between = _read(ev / "between.json")
    for key, name in (("paper: expansion minus image", "exp_image_paper"),
                      ("reference: expansion minus image", "exp_image_reference"),
                      ("paper minus reference", "paper_reference")):  # fmt: skip
        _put_ci(out, name, between[key], "difference")
        out[f"{name}_verdict"] = verdict(between[key]["ci_low"], between[key]["ci_high"])
    section5 = _read(ev / "section5.json")
    for p in PRESETS:
        miss = section5[f"{p}@expansion"]["miss"]
        out["n_lowres_miss"] = int(miss["n"])
        if miss["n"]:
            _put_ci(out, f"rescue_{p}", miss, "difference")
            out[f"rescue_{p}_rate"] = float(miss["method_mean"])
            out[f"rescue_{p}_verdict"] = verdict(miss["ci_low"], miss["ci_high"],
                                                 better="rescues some failures",
                                                 worse="worse than the low-res CAM")  # fmt: skip
        else:
            for suffix in ("", "_lo", "_hi", "_rate"):
                out[f"rescue_{p}{suffix}"] = math.nan
            out[f"rescue_{p}_verdict"] = "not measured: the low-res CAM never missed"
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
    wins = [f"{r['variant']} ({r['config']})" for r in variants["rows"] if r["ci_low"] > 0]
    losses = [f"{r['variant']} ({r['config']})" for r in variants["rows"] if r["ci_high"] < 0]
    out["variant_wins"] = ", ".join(wins) or "none"
    out["variant_losses"] = ", ".join(losses) or "none"
    for r in variants["rows"]:
        _put_ci(out, f"variant_{r['variant']}_{r['config']}_diff", r, "difference")
    out["arch"] = _arch(run_dir)
    return out


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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe = {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()
    }
    path = out / "claims.json"
    path.write_text(json.dumps(safe, indent=2), encoding="utf-8")
    return path
