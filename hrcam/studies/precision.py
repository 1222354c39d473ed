"""What a bfloat16 expansion network changes in the maps (``"bfloat16-expansion"`` precision).

:class:`hrcam.explain.Explainer` can run its expansion network in bfloat16 on the unchanged
classifier (:func:`hrcam.models.with_expansion_dtype`): predictions and low-res CAMs stay exact,
the high-res CAM is computed to about three significant digits, and the refined CAM follows.
:func:`precision_effect` measures how far the two maps move on a data set with masks, and
whether localization changes: paired differences from a high-res-source study
(:func:`hrcam.studies.evaluate_sources` with the low-precision model as a source).

>>> model16 = with_expansion_dtype(model, torch.bfloat16)  # doctest: +SKIP
>>> study = evaluate_sources(model, val, high_res_models={"bfloat16": model16})  # doctest: +SKIP
>>> values = precision_effect(study, model, model16, val, limit=200)  # doctest: +SKIP
>>> print(precision_text(values))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.core.tables import ci_text, put_ci
from hrcam.studies.ablation import same_low_res

if TYPE_CHECKING:
    from hrcam.models import HRCAM
    from hrcam.studies.refine import StudyResult

__all__ = ["map_deviation", "precision_effect", "precision_text"]

_PRESETS = ("paper", "reference")


def map_deviation(exact: np.ndarray, approximate: np.ndarray) -> np.ndarray:
    """Per image, the largest absolute difference as a share of the exact map's range.

    Parameters
    ----------
    exact, approximate
        ``(N, H, W)`` maps of the same images.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` values; 0 where the maps are equal (a constant exact map counts its range as 1).
    """
    exact = np.asarray(exact, dtype=np.float64)
    approximate = np.asarray(approximate, dtype=np.float64)
    if exact.shape != approximate.shape or exact.ndim != 3:
        raise ValueError(
            f"need two (N, H, W) arrays of one shape, got {exact.shape} and {approximate.shape}"
        )
    span = exact.max(axis=(1, 2)) - exact.min(axis=(1, 2))
    largest = np.abs(approximate - exact).max(axis=(1, 2))
    return largest / np.where(span > 0, span, 1.0)


def precision_effect(
    study: StudyResult,
    model: HRCAM,
    low_precision: HRCAM,
    dataset: Any,
    limit: int | None = None,
    batch_size: int = 16,
    source: str = "bfloat16",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure what ``low_precision`` changes against ``model`` in the high-res and refined maps.

    Parameters
    ----------
    study
        :func:`hrcam.studies.evaluate_sources` of ``model`` with
        ``high_res_models={source: low_precision}`` (source ``expansion`` included).
    model, low_precision
        The exact model and the same classifier with the lower-precision expansion network.
    dataset, limit, batch_size
        The images of ``study`` (the first ``limit`` of ``dataset``; default: as many as the
        study scored), and the forward batch. The two models' CAMs are computed again here
        (the study keeps only scores), which costs two forward passes over those images.
    source
        The study's name for the low-precision source.
    n_boot, seed
        Bootstrap of the paired differences.

    Returns
    -------
    dict
        ``prec_hr_dev_median``/``_max`` (:func:`map_deviation` of the high-res CAMs), per
        preset ``prec_<preset>_dev_median``/``_max``, ``prec_<preset>_identical`` (share of
        refined maps equal bit for bit) and ``prec_<preset>_pixels_changed`` (mean share of a
        refined map's pixels that differ), ``prec_<preset>_pxap`` (low-precision minus exact
        refined PxAP, paired, with ``_lo``/``_hi`` and ``_verdict``), the same for the raw
        high-res CAM (``prec_raw_pxap``), fallback rates and ``prec_images``.
    """
    from hrcam.methods.camset import compute_cams
    from hrcam.postprocess import refine, resolve_config
    from hrcam.studies.refine import PRESET_CONFIGS, paired_between, verdict

    scored = int(study.config["num_images"])
    limit = scored if limit is None else limit
    exact = compute_cams(model, dataset, limit, batch_size)
    if len(exact.index) != scored:
        raise ValueError(
            f"the study scored {scored} images but limit={limit!r} gives {len(exact.index)}; "
            "pass the study's own limit (or none) so that both describe the same images"
        )
    approx = compute_cams(low_precision, dataset, limit, batch_size)
    if not (low_precision.classifier is model.classifier or same_low_res(exact, approx)):
        raise ValueError(
            "the two models' low-res CAMs differ: low_precision must share model's classifier "
            "(hrcam.models.with_expansion_dtype)"
        )
    hr = map_deviation(exact.high_res, approx.high_res)
    out: dict[str, Any] = {
        "prec_images": len(hr),
        "prec_hr_dev_median": float(np.median(hr)),
        "prec_hr_dev_max": float(hr.max()),
    }
    for preset in _PRESETS:
        config = resolve_config(**PRESET_CONFIGS[preset])
        pairs = [
            (refine(lo, a, config=config).refined, refine(lo, b, config=config).refined)
            for lo, a, b in zip(exact.low_res, exact.high_res, approx.high_res, strict=True)
        ]
        dev = map_deviation(np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs]))
        out[f"prec_{preset}_dev_median"] = float(np.median(dev))
        out[f"prec_{preset}_dev_max"] = float(dev.max())
        out[f"prec_{preset}_identical"] = float(np.mean([np.array_equal(a, b) for a, b in pairs]))
        out[f"prec_{preset}_pixels_changed"] = float(np.mean([np.mean(a != b) for a, b in pairs]))
        out[f"prec_{preset}_fallback"] = study.value(f"{preset}@{source}", "fallback_rate")
        out[f"prec_{preset}_exact_fallback"] = study.value(f"{preset}@expansion", "fallback_rate")
    for name in (*_PRESETS, "raw"):
        d = paired_between(study, f"{name}@{source}", f"{name}@expansion", "pxap", n_boot, seed)
        put_ci(out, f"prec_{name}_pxap", d, "difference")
        out[f"prec_{name}_pxap_verdict"] = verdict(d["ci_low"], d["ci_high"])
    return out


def precision_text(values: dict[str, Any]) -> str:
    """Say in words what :func:`precision_effect` measured."""
    parts = [
        f"On {values['prec_images']} images the bfloat16 expansion network moves the high-res "
        f"CAM by at most {100 * values['prec_hr_dev_max']:.2f}% of its range (median "
        f"{100 * values['prec_hr_dev_median']:.2f}%). Its raw PxAP changes by "
        f"{ci_text(values, 'prec_raw_pxap', '+.4f')}: {values['prec_raw_pxap_verdict']}."
    ]
    for preset in _PRESETS:
        parts.append(
            f"With the `{preset}` preset, {100 * values[f'prec_{preset}_identical']:.0f}% of "
            f"the refined maps are identical bit for bit, and on average "
            f"{100 * values[f'prec_{preset}_pixels_changed']:.2f}% of a map's pixels change, by "
            f"up to {100 * values[f'prec_{preset}_dev_max']:.0f}% of its range: a pixel that "
            f"enters or leaves the grown region moves by the region's weight in the blend. "
            f"Refined PxAP changes by {ci_text(values, f'prec_{preset}_pxap', '+.4f')}: "
            f"{values[f'prec_{preset}_pxap_verdict']}; the fallback rate is "
            f"{values[f'prec_{preset}_fallback']:.2f}, against "
            f"{values[f'prec_{preset}_exact_fallback']:.2f} in float32."
        )
    return " ".join(parts)
