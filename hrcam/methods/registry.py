"""One registry of saliency methods, in the style of torchvision's ``register_model``.

Each method is one :class:`MethodEntry`: its key, display label, family, builder, cost and
image cap. The built-in entries sit beside their builders, one module per family
(:mod:`hrcam.methods.paper`, :mod:`hrcam.methods.gradcam`, :mod:`hrcam.methods.hires`),
registered with :func:`register_method` when :mod:`hrcam.methods` is imported (which importing
this module does first); everything else (the evaluation loop, the report, the CLI's
``--methods`` choices, plot labels) reads this registry. This module imports no method.
Adding a method is one entry plus its test.

>>> from hrcam.methods.registry import method_names, get_method
>>> "gradcam" in method_names()
True
>>> get_method("scorecam").image_cap
'per_channel'

The built-in modules import no torch at module level, so ``hrcam evaluate --help`` can list
the methods cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hrcam.errors import HrcamError

if TYPE_CHECKING:
    from hrcam.methods.base import SaliencyMethod
    from hrcam.models import HRCAM

__all__ = [
    "FAMILIES",
    "GRADIENT_COST",
    "IMAGE_CAPS",
    "MethodEntry",
    "MethodOptions",
    "UnknownMethodError",
    "family_entry",
    "get_method",
    "method_label",
    "method_names",
    "missing_extra",
    "register_gradient_method",
    "register_method",
    "runnable_method_names",
]

FAMILIES: tuple[str, ...] = ("hrcam", "grad-cam", "high-res")
"""Method families, in table order: hrcam's own maps, grad-cam's baselines at the CAM head,
and the high-resolution baselines of issue #12."""

IMAGE_CAPS: dict[str, str] = {
    "per_channel": "one classifier forward pass per channel of its target layer per image",
}
"""Why a method is run on fewer images than the rest, by name: the cost classes an entry's
``image_cap`` may name. An evaluation gives each class its own image limit (for
``per_channel``, :attr:`hrcam.evaluate.EvaluateConfig.score_cam_limit`); the registry names
no setting of the evaluation."""


GRADIENT_COST: dict[str, Any] = {"forward_passes": 2.5, "needs_gradients": True}
"""The cost fields (:func:`register_method`'s keywords) of a method that back-propagates once
through the classifier: a forward and a backward pass, about 2.5 forward passes."""


class UnknownMethodError(HrcamError):
    """A method name that is not in the registry."""


@dataclass(frozen=True)
class MethodOptions:
    """Settings every builder receives (each uses the ones it needs).

    Attributes
    ----------
    workers
        Post-processing processes of the refined CAMs (``None``: see
        :func:`hrcam.parallel.resolve_workers`).
    score_cam_batch_size
        Masked images per forward pass of Score-CAM.
    """

    workers: int | None = None
    score_cam_batch_size: int = 32


Builder = Callable[["HRCAM", MethodOptions], "SaliencyMethod"]


@dataclass(frozen=True)
class MethodEntry:
    """One registered saliency method.

    Attributes
    ----------
    name
        Key used in ``--methods``, tables and files.
    label
        Display name for tables and plots.
    family
        One of :data:`FAMILIES`.
    builder
        ``builder(model, options) -> SaliencyMethod``.
    forward_passes
        Rough cost in classifier forward(+backward) passes per image; ``None`` when it is one
        pass per channel of the method's target layer (Score-CAM).
    needs_gradients
        Whether the method back-propagates through the classifier.
    image_cap
        The cost class (a key of :data:`IMAGE_CAPS`) for which an evaluation runs this method
        on its first images only (``None``: every image); the evaluation holds the limit of
        each class, and a limit of 0 drops the method.
    extra
        The pip extra (:data:`hrcam.extras.EXTRAS`) whose packages the method needs, or
        ``None`` when the core install runs it.
    default
        Whether the method is in the default method list (:func:`runnable_method_names`, what
        an evaluation runs when no methods are named). ``False`` for a method that runs only
        when named: one that needs a trained part beyond the HRCAM model (``featup_jbu``),
        or one too expensive for a default evaluation (``sess``).
    needs_expansion
        Whether the method needs a trained expansion network (the high-res and refined CAMs);
        the others run on a bare classifier (``hrcam explain --classifier``).
    """

    name: str
    label: str
    family: str
    builder: Builder
    forward_passes: float | None = 1.0
    needs_gradients: bool = False
    image_cap: str | None = None
    extra: str | None = None
    default: bool = True
    needs_expansion: bool = False

    def build(self, model: HRCAM, options: MethodOptions | None = None) -> SaliencyMethod:
        """Build the method on ``model`` (a :class:`~hrcam.methods.SaliencyMethod`)."""
        return self.builder(model, options or MethodOptions())


_REGISTRY: dict[str, MethodEntry] = {}


def register_method(
    name: str,
    *,
    label: str,
    family: str,
    forward_passes: float | None = 1.0,
    needs_gradients: bool = False,
    image_cap: str | None = None,
    extra: str | None = None,
    default: bool = True,
    needs_expansion: bool = False,
) -> Callable[[Builder], Builder]:
    """Register the decorated builder as method ``name`` (a decorator).

    Parameters
    ----------
    name, label, family, forward_passes, needs_gradients, image_cap, extra, default, \
    needs_expansion
        See :class:`MethodEntry`.

    Returns
    -------
    callable
        The decorator; it returns the builder unchanged.

    Raises
    ------
    ValueError
        When ``name`` is already registered, or ``family`` or ``image_cap`` is unknown.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown method family {family!r}; choose from {list(FAMILIES)}")
    if image_cap is not None and image_cap not in IMAGE_CAPS:
        raise ValueError(f"unknown image cap {image_cap!r}; choose from {list(IMAGE_CAPS)}")

    def wrap(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        _REGISTRY[name] = MethodEntry(
            name,
            label,
            family,
            builder,
            forward_passes,
            needs_gradients,
            image_cap,
            extra,
            default,
            needs_expansion,
        )
        return builder

    return wrap


def register_gradient_method(
    name: str, label: str, family: str, builder: Builder, **cost: Any
) -> None:
    """Register ``builder`` as method ``name`` of ``family`` with a gradient method's cost.

    ``cost`` holds :func:`register_method`'s cost keywords where they differ from
    :data:`GRADIENT_COST` (the grad-cam and high-res families register this way).
    """
    register_method(name, label=label, family=family, **{**GRADIENT_COST, **cost})(builder)


def family_entry(name: str, family: str, what: str) -> MethodEntry:
    """Return the entry of method ``name`` of ``family``.

    Raises
    ------
    ValueError
        When ``name`` is no method of ``family``; the message calls it an unknown ``what``
        and lists the family's methods.
    """
    known = method_names(family)
    if name not in known:
        raise ValueError(f"unknown {what} {name!r}; choose from {list(known)}")
    return get_method(name)


def method_names(family: str | None = None) -> tuple[str, ...]:
    """List registered method names, hrcam's own first, then by family and registration order."""
    entries = sorted(_REGISTRY.values(), key=lambda e: FAMILIES.index(e.family))
    return tuple(e.name for e in entries if family is None or e.family == family)


def get_method(name: str) -> MethodEntry:
    """Return the entry of method ``name``.

    Raises
    ------
    UnknownMethodError
        When no method of that name is registered.
    """
    if name not in _REGISTRY:
        raise UnknownMethodError(f"unknown method {name!r}; choose from {list(method_names())}")
    return _REGISTRY[name]


def method_label(name: str) -> str:
    """Display label of method ``name`` (the name itself for unregistered keys)."""
    entry = _REGISTRY.get(name)
    return entry.label if entry is not None else name


def missing_extra(name: str) -> str | None:
    """Return the extra that method ``name`` needs and that is not installed, else ``None``."""
    from hrcam.extras import extra_installed

    extra = get_method(name).extra
    return None if extra is None or extra_installed(extra) else extra


def runnable_method_names(family: str | None = None) -> tuple[str, ...]:
    """Return the default method list.

    That is :func:`method_names` less the methods whose pip extra is not installed and those
    that run only when named (``default=False``).
    """
    return tuple(
        n for n in method_names(family) if missing_extra(n) is None and _REGISTRY[n].default
    )
