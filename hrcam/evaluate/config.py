"""The settings of one evaluation, in one frozen, validated dataclass.

:func:`hrcam.evaluate.evaluate` builds it from its keyword arguments, and the ``hrcam
evaluate`` command reads its defaults from here, so every default is written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from hrcam.errors import HrcamError
from hrcam.extras import MissingExtraError, install_line
from hrcam.methods.registry import get_method, missing_extra, runnable_method_names
from hrcam.metrics import ROAD_PERCENTILES

__all__ = ["IMAGE_CAP_FIELDS", "TARGETS", "EvaluateConfig", "EvaluateConfigError", "cap_field_of"]

TARGETS: tuple[str, ...] = ("predicted", "label")
"""Which class each map explains: the model's prediction, or the ground-truth label."""

IMAGE_CAP_FIELDS: dict[str, str] = {"per_channel": "score_cam_limit"}
"""The :class:`EvaluateConfig` field that holds the image limit of each cost class of the
method registry (:data:`hrcam.methods.registry.IMAGE_CAPS`)."""


def cap_field_of(name: str) -> str | None:
    """Return the :class:`EvaluateConfig` field limiting method ``name``'s images, or ``None``.

    Read from the method's registry entry (its ``image_cap``), so a new expensive method of an
    existing cost class needs no change here.
    """
    cap = get_method(name).image_cap
    return None if cap is None else IMAGE_CAP_FIELDS[cap]


class EvaluateConfigError(HrcamError):
    """An evaluation setting out of range."""


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or value < 1:
        raise EvaluateConfigError(f"{name} must be a positive integer, got {value!r}")


def _non_negative(name: str, value: Any) -> None:
    if not isinstance(value, int) or value < 0:
        raise EvaluateConfigError(f"{name} must be an integer >= 0, got {value!r}")


@dataclass(frozen=True)
class EvaluateConfig:
    """What :func:`hrcam.evaluate.run_evaluation` measures, and on how many images.

    Attributes
    ----------
    methods
        Names of the method registry (:func:`hrcam.methods.registry.method_names`); ``None``
        (the default) means every registered method that this install can run (a method
        whose pip extra is missing is left out; named explicitly, it is refused with the line
        that installs it). Stored as a tuple.
    limit
        Evaluate the first ``limit`` images (default: all).
    batch_size
        Images per batch.
    target
        ``"predicted"`` (explain the model's top-1 class, as a user sees it) or ``"label"``
        (the ground-truth class, the WSOL convention of Choe et al.).
    score_cam_limit
        Score-CAM only on the first this many images (it costs one forward pass per channel
        of its target layer per image); 0 skips it. It is the limit of every method whose
        registry entry has the image cap ``per_channel``
        (:attr:`~hrcam.methods.registry.MethodEntry.image_cap`; see :data:`IMAGE_CAP_FIELDS`).
    faithfulness_limit
        Average drop, increase in confidence and deletion/insertion AUC only on the first
        this many images; 0 skips them.
    deletion_steps
        Steps of the deletion/insertion curves.
    road_limit
        ROAD (grad-cam's implementation, :func:`hrcam.metrics.road`) only on the first this
        many images; 0 (default) skips it. It costs two sparse linear solves per percentile
        per image and method (about 0.2 s each on one CPU core).
    road_percentiles
        ROAD thresholds in (0, 100).
    thresholds
        CAM threshold grid (default 0, 0.01, ..., 0.99).
    n_boot, seed
        Bootstrap resamples and seed for the confidence intervals.
    keep_examples
        Keep images and maps of the first this many images for example plots.
    progress
        Show a tqdm progress bar.
    workers
        Processes that post-process the refined CAMs; ``None``: see
        :func:`hrcam.parallel.resolve_workers`. Results are identical for any number.
    """

    methods: tuple[str, ...] | None = None
    limit: int | None = None
    batch_size: int = 16
    target: str = "predicted"
    score_cam_limit: int = 32
    faithfulness_limit: int = 32
    deletion_steps: int = 16
    road_limit: int = 0
    road_percentiles: tuple[float, ...] = ROAD_PERCENTILES
    thresholds: tuple[float, ...] | None = None
    n_boot: int = 1000
    seed: int = 0
    keep_examples: int = 32
    progress: bool = True
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise EvaluateConfigError(f"target must be 'predicted' or 'label', got {self.target!r}")
        for name in ("batch_size", "deletion_steps", "n_boot"):
            _positive(name, getattr(self, name))
        for name in ("score_cam_limit", "faithfulness_limit", "road_limit", "keep_examples"):
            _non_negative(name, getattr(self, name))
        if self.limit is not None:
            _positive("limit", self.limit)
        # Frozen: normalise the sequences through object.__setattr__, once, here.
        methods = runnable_method_names() if self.methods is None else tuple(self.methods)
        for name in methods:
            get_method(name)  # a clear error for an unknown name
            if (extra := missing_extra(name)) is not None:
                raise MissingExtraError(
                    f"method {name!r} ({get_method(name).label}) needs the {extra!r} extra, "
                    f"which is not installed: {install_line(extra)}"
                )
        if len(set(methods)) != len(methods):
            raise EvaluateConfigError(f"methods must not repeat, got {list(methods)}")
        object.__setattr__(self, "methods", methods)
        object.__setattr__(self, "road_percentiles", tuple(float(p) for p in self.road_percentiles))
        if self.thresholds is not None:
            object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))

    def evaluated_methods(self) -> list[str]:
        """:attr:`methods` minus those whose image limit is 0 here (skipped)."""
        out = []
        for name in self.methods or ():
            cap_field = cap_field_of(name)
            if cap_field is None or getattr(self, cap_field) > 0:
                out.append(name)
        return out

    def images_for(self, name: str, num_images: int) -> int:
        """How many of the first images method ``name`` runs on (its image cap's limit)."""
        cap_field = cap_field_of(name)
        return num_images if cap_field is None else min(num_images, getattr(self, cap_field))

    @classmethod
    def from_options(cls, methods: Iterable[str] | None = None, **options: Any) -> EvaluateConfig:
        """Build from keyword arguments; an unknown one is an error naming the valid ones."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise TypeError(f"unknown evaluation option(s) {unknown}; choose from {sorted(names)}")
        return cls(methods=None if methods is None else tuple(methods), **options)
