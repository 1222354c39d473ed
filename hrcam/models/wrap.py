"""Explain a classifier you already have: wrap any GAP + linear CNN (paper §3.2).

The paper notes that the expansion network "can be used on any pre-trained CNN capable of
producing CAMs". A CNN can produce exact CAMs when its output is one linear layer applied to the
global average of a feature map: then S_c = Σ_k w_k^c · mean_xy f_k + b_c, and the CAM
M_c = Σ_k w_k^c f_k averages to the logit minus the bias. :func:`wrap_classifier` turns such a
model into a :class:`WrappedClassifier`, which the rest of hrcam uses like its own
:class:`~hrcam.models.CAMClassifier`, without changing a single weight:

* the CAM features are the model's own final feature map (``k`` = its FC input width, e.g.
  1280 for EfficientNet-Lite0, 2048 for ResNet-50), and the FC layer is the model's own;
* the expansion network's skip taps are found automatically: from timm's ``feature_info`` for
  timm models, and for any other module (torchvision's included) from the graph that
  ``torchvision.models.feature_extraction`` traces: per stride, the output of the outermost
  module through which every path of the network passes (a stage boundary);
* the model's own input normalisation (mean/std) is stored with it (``input_mean``,
  ``input_std``) and used wherever hrcam turns images into model input.

>>> import torchvision
>>> from hrcam.models import wrap_classifier
>>> clf = wrap_classifier(torchvision.models.resnet18(weights=None))  # doctest: +SKIP
>>> clf.k, clf.num_classes, clf.stride  # doctest: +SKIP
(2048, 1000, 32)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrcam.data.resources import resource_table
from hrcam.errors import HrcamError
from hrcam.models.classifier import CAMClassifier, ClassifierOutput, check_images
from hrcam.models.head_graph import _analyse_graph, _timm_taps
from hrcam.models.state_dicts import BATCHNORM_FILLS_IN, differences_text, state_dict_differences
from hrcam.models.wrap_checks import (
    ProbeFailed,
    check_logits,
    check_stats,
    check_timm_pool,
    final_stride,
    probe_failed,
    refuse,
)

__all__ = [
    "ZOOS",
    "WrappedClassifier",
    "build_wrapped",
    "imagenet_animal_indices",
    "imagenet_class_names",
    "parse_zoo_name",
    "rebuild_wrapped",
    "wrap_classifier",
]

#: Model zoos a wrapped classifier can be rebuilt from by name (checkpoints, the CLI).
ZOOS = ("timm", "torchvision")


def imagenet_class_names() -> list[str]:
    """Return the 1000 ILSVRC-2012 class names in the standard (sorted-wnid) order.

    Read from ``hrcam/resources/imagenet_classes.tsv`` (bundled; columns index, wnid, short
    name as torchvision spells it, WordNet synonyms).
    """
    return [row[2] for row in resource_table("imagenet_classes.tsv")]


def imagenet_animal_indices() -> list[int]:
    """ImageNet-1k indices of the paper's 398 animal classes (0..397 in the sorted order)."""
    return [int(row[0]) for row in resource_table("imagenet_animal_classes.tsv")]


class WrappedClassifier(CAMClassifier):
    """An existing GAP + linear classifier, seen as an hrcam CAM classifier.

    Build it with :func:`wrap_classifier`. ``forward_features(x).logits`` equals the wrapped
    model's ``model(x)`` (same input tensor, the model's own normalisation).

    Parameters
    ----------
    extractor
        Module returning ``(skips, final)`` for a batch: skip maps highest resolution first,
        and the final map that the model averages and feeds to ``fc``.
    fc
        The model's own last linear layer (shared, not copied).
    stride
        Input size divided by the final map's size.
    input_mean, input_std
        Per-channel statistics of the model's input normalisation, on the [0, 1] pixel scale.
    config
        How to rebuild it (zoo, name, taps, normalisation ...), stored in checkpoints.
    """

    def __init__(
        self,
        extractor: nn.Module,
        fc: nn.Linear,
        stride: int,
        input_mean: Sequence[float],
        input_std: Sequence[float],
        config: dict[str, Any],
    ) -> None:
        nn.Module.__init__(self)  # not CAMClassifier.__init__: the head is the model's own
        self.extractor = extractor
        # The CAM features are the final map itself. The identities stand where hrcam's own
        # head has its 1x1 conv and ReLU, so hooks on them (Grad-CAM, torchcam) see that map.
        self.cam_conv = nn.Identity()
        self.cam_relu = nn.Identity()
        self.fc = fc
        self.stride = int(stride)
        self.input_mean = tuple(float(v) for v in input_mean)
        self.input_std = tuple(float(v) for v in input_std)
        self.config = dict(config)

    def forward_features(self, x: torch.Tensor) -> ClassifierOutput:
        """Logits, CAM features (the final map) and skips of a batch in the model's input."""
        check_images(x, self.stride)
        skips, final = self.extractor(x)
        final = self.cam_relu(self.cam_conv(final))
        logits = self.fc(final.mean(dim=(2, 3)))
        return ClassifierOutput(logits, final, [*skips, final])


class _HookExtractor(nn.Module):
    """Skips by forward hooks on named modules, final map from ``model.forward_features``.

    The hooks live only for the duration of one forward pass, so a deep copy of the module
    (or a pickled one) carries none that would write into the original.
    """

    def __init__(self, model: nn.Module, taps: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.taps = list(taps)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        store: dict[str, torch.Tensor] = {}
        modules = dict(self.model.named_modules())

        def hook_for(name: str) -> Callable[..., None]:
            def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
                store[name] = output

            return hook

        handles = [modules[name].register_forward_hook(hook_for(name)) for name in self.taps]
        try:
            final = self.model.forward_features(x)
        finally:
            for handle in handles:
                handle.remove()
        return [store[name] for name in self.taps], final


class _GraphExtractor(nn.Module):
    """Skips and final map from a ``create_feature_extractor`` graph module."""

    def __init__(self, graph: nn.Module, num_skips: int) -> None:
        super().__init__()
        self.graph = graph
        self.num_skips = num_skips

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        out = self.graph(x)
        return [out[f"skip{i}"] for i in range(self.num_skips)], out["final"]


# What a model's wrapping is built from: (extractor, fc, tap names, stride, final map's name).
_Parts = tuple[nn.Module, nn.Linear, list[str], int, str]


def _default_stats(model: nn.Module, zoo: str | None) -> tuple[tuple[float, ...], ...]:
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
    if zoo == "timm" and "mean" in cfg and "std" in cfg:
        return tuple(cfg["mean"]), tuple(cfg["std"])
    from hrcam.models.preprocess import IMAGENET_MEAN, IMAGENET_STD

    # torchvision's classification weights all expect these statistics.
    return IMAGENET_MEAN, IMAGENET_STD


def _is_timm(model: nn.Module) -> bool:
    return type(model).__module__.startswith("timm.") and hasattr(model, "forward_features")


def wrap_classifier(
    model: nn.Module,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    taps: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    probe_size: int = 64,
    zoo: str | None = None,
    name: str | None = None,
) -> WrappedClassifier:
    """Wrap an existing GAP + linear classifier, weights unchanged, for hrcam.

    Parameters
    ----------
    model
        A trained classifier: a timm or torchvision model, or your own ``nn.Module`` whose
        ``forward`` ends in global average pooling and one ``nn.Linear``. It is put in eval
        mode; its parameters are shared, not copied.
    mean, std
        Its input normalisation on the [0, 1] pixel scale. Default: the timm model's
        ``pretrained_cfg``; otherwise torchvision's ImageNet statistics.
    taps
        Skip taps (module or graph-node names, highest resolution first). Default: found
        automatically (see the module docstring).
    class_names
        One name per output; default: the ImageNet names when it has 1000 outputs.
    probe_size
        Side of the dummy input used to check the head against ``model(x)`` and to find the
        taps' strides (a multiple of the model's stride; small, so wrapping stays cheap).
    zoo, name
        ``"timm"`` / ``"torchvision"`` and the model's name there, so that a checkpoint can
        rebuild it (:func:`build_wrapped` sets them); ``None`` for your own module, whose
        checkpoints then need the module again to load.

    Returns
    -------
    WrappedClassifier

    Raises
    ------
    HrcamError
        If the model does not end in GAP + linear, cannot be traced, or its wrapped logits
        do not reproduce ``model(x)``; the message says why.
    """
    if not isinstance(model, nn.Module):
        if isinstance(model, str):  # wrap_classifier("timm:NAME"): the zoo builder does that
            raise HrcamError(
                f"wrap_classifier takes a model, not the name {model!r}; build and wrap a zoo "
                f"model by name with hrcam.models.build_wrapped({model!r})"
            )
        raise HrcamError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if zoo is not None and zoo not in ZOOS:
        raise HrcamError(f"zoo must be one of {ZOOS} or None, got {zoo!r}")
    model = model.eval()
    timm_model = _is_timm(model)
    zoo_for_stats = zoo or ("timm" if timm_model else None)
    default_mean, default_std = _default_stats(model, zoo_for_stats)
    mean = check_stats("mean", default_mean if mean is None else mean)
    std = check_stats("std", default_std if std is None else std)
    if not isinstance(probe_size, int) or isinstance(probe_size, bool) or probe_size < 1:
        raise HrcamError(f"probe_size must be a positive integer, got {probe_size!r}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    build = _timm_parts if timm_model else _graph_parts
    probe = torch.zeros(1, 3, probe_size, probe_size, device=device, dtype=dtype)
    extractor, fc, tap_names, stride, final_name = build(model, taps, probe)
    class_names = _class_names(class_names, fc)
    config = {
        "arch": f"{zoo}:{name}" if zoo else f"custom:{type(model).__name__}",
        "zoo": zoo,
        "name": name,
        "num_classes": int(fc.out_features),
        "k": int(fc.in_features),
        "taps": list(tap_names),
        "final": final_name,
        "mean": list(mean),
        "std": list(std),
        "class_names": class_names,
        "probe_size": int(probe_size),
    }
    wrapped = WrappedClassifier(extractor, fc, stride, mean, std, config).eval()
    # On a 1x1 final map, max (or any) pooling equals the mean: check where it is >= 2x2.
    # A second size one stride larger checks that the stride holds (the map grows with it).
    check_size = stride * max(2, -(-probe_size // stride))
    for size in (check_size, check_size + stride):
        check_logits(model, wrapped, size, device, dtype)
    return wrapped


def _timm_parts(model: nn.Module, taps: Sequence[str] | None, probe: torch.Tensor) -> _Parts:
    """Split a timm model into ``(extractor, fc, tap names, stride, final name)`` by its own API."""
    fc = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(fc, nn.Linear):
        raise refuse(model, f"its classifier is {type(fc).__name__}, not nn.Linear")
    check_timm_pool(model)
    try:
        with torch.no_grad():
            features = model.forward_features(probe)
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise probe_failed(model, int(probe.shape[-1]), exc) from None
    if features.dim() != 4:
        raise refuse(model, f"forward_features gives shape {tuple(features.shape)}, not a map")
    stride = final_stride(model, int(probe.shape[-1]), int(features.shape[-1]))
    tap_names = list(taps) if taps is not None else _timm_taps(model, stride)
    known = dict(model.named_modules())
    missing = [t for t in tap_names if t not in known]
    if missing:
        raise HrcamError(f"taps {missing} are not modules of {type(model).__name__}")
    return _HookExtractor(model, tap_names), fc, tap_names, stride, "forward_features"


def _graph_parts(model: nn.Module, taps: Sequence[str] | None, probe: torch.Tensor) -> _Parts:
    """Any other model's ``(extractor, fc, tap names, stride, final name)``, from its fx graph."""
    from torchvision.models.feature_extraction import create_feature_extractor

    final_name, fc_name, info = _analyse_graph(model, probe)
    fc = dict(model.named_modules())[fc_name]
    tap_names = list(taps) if taps is not None else info["taps"]
    return_nodes = {t: f"skip{i}" for i, t in enumerate(tap_names)}
    if final_name in return_nodes:
        raise HrcamError(f"tap {final_name!r} is the final feature map itself")
    return_nodes[final_name] = "final"
    try:
        graph = create_feature_extractor(model, return_nodes=return_nodes)
    except ValueError as exc:
        raise HrcamError(f"taps {tap_names}: {exc}") from exc
    extractor = _GraphExtractor(graph, len(tap_names))
    model.eval()
    return extractor, fc, tap_names, info["stride"], final_name


def _class_names(class_names: Sequence[str] | None, fc: nn.Linear) -> list[str] | None:
    """One name per output: as given, or the ImageNet names for a 1000-way head."""
    if class_names is None and fc.out_features == 1000:
        class_names = imagenet_class_names()
    if class_names is None:
        return None
    names = [str(c) for c in class_names]
    if len(names) != fc.out_features:
        raise HrcamError(f"class_names has {len(names)} names, the model {fc.out_features} outputs")
    return names


# -- rebuilding by name -----------------------------------------------------------------------


def parse_zoo_name(spec: str) -> tuple[str, str]:
    """``"timm:resnet18"`` → ``("timm", "resnet18")``; raise :class:`HrcamError` otherwise."""
    zoo, sep, name = str(spec).partition(":")
    if not sep or zoo not in ZOOS or not name:
        raise HrcamError(
            f"{spec!r} is not ZOO:NAME with ZOO one of {ZOOS} (e.g. timm:tf_efficientnet_lite0, "
            "torchvision:resnet50)"
        )
    return zoo, name


def import_timm() -> Any:
    """``import timm``, or a :class:`~hrcam.extras.MissingExtraError` naming the ``timm`` extra.

    timm imports huggingface_hub, which imports ``tqdm.auto``; in a Jupyter kernel without
    ipywidgets that prints a TqdmWarning into the book, so it is silenced here.
    """
    import warnings

    from hrcam.extras import require

    feature = "wrapping a timm model"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        require("huggingface_hub.file_download", extra="timm", feature=feature)  # tqdm.auto
        return require("timm", extra="timm", feature=feature)


def _native_model(zoo: str, name: str, num_classes: int | None) -> nn.Module:
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    if zoo == "timm":
        timm = import_timm()
        if not timm.is_model(name):
            raise HrcamError(f"timm has no model {name!r} (see timm.list_models())")
        return timm.create_model(name, pretrained=False, **kwargs)  # never downloads
    import torchvision

    try:
        return torchvision.models.get_model(name, weights=None, **kwargs)
    except ValueError as exc:
        raise HrcamError(f"torchvision has no model {name!r} ({exc})") from exc


def _load_native_weights(model: nn.Module, weights: str | os.PathLike, zoo: str) -> None:
    from hrcam.models.backbones import _read_state_dict_file

    path = Path(weights)
    try:
        state = _read_state_dict_file(path)
    except (FileNotFoundError, ValueError) as exc:
        raise HrcamError(str(exc)) from exc
    state = {k.removeprefix("module."): v for k, v in state.items()}
    differences = state_dict_differences(model.state_dict(), state, BATCHNORM_FILLS_IN)
    if any(differences):
        raise HrcamError(
            f"weights {str(path)!r} do not fit the {zoo} model {type(model).__name__}: "
            + differences_text(*differences)
        )
    model.load_state_dict(state, strict=True)


def build_wrapped(
    spec: str,
    weights: str | os.PathLike | None = None,
    *,
    num_classes: int | None = None,
    **wrap_kwargs: Any,
) -> WrappedClassifier:
    """Create a timm or torchvision model by name, load local weights, and wrap it.

    Parameters
    ----------
    spec
        ``"timm:NAME"`` or ``"torchvision:NAME"``.
    weights
        A local state-dict file for that model (nothing is downloaded); ``None`` keeps the
        random initialisation.
    num_classes
        Outputs, if not the zoo's default (1000).
    **wrap_kwargs
        Passed to :func:`wrap_classifier` (``mean``, ``std``, ``taps``, ``class_names`` ...).

    Returns
    -------
    WrappedClassifier
    """
    zoo, name = parse_zoo_name(spec)
    model = _native_model(zoo, name, num_classes)
    if weights is not None:
        _load_native_weights(model, weights, zoo)
    if "probe_size" in wrap_kwargs:
        return wrap_classifier(model, zoo=zoo, name=name, **wrap_kwargs)
    # Some zoo models need more than the default 64 px (Inception): try larger dummy inputs
    # before refusing, so that the refusal names the model's real obstacle.
    for size in _ZOO_PROBE_SIZES:
        try:
            return wrap_classifier(model, zoo=zoo, name=name, probe_size=size, **wrap_kwargs)
        except ProbeFailed:
            if size == _ZOO_PROBE_SIZES[-1]:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


_ZOO_PROBE_SIZES = (64, 128, 256, 320)


def rebuild_wrapped(config: dict[str, Any]) -> WrappedClassifier:
    """Rebuild a :class:`WrappedClassifier` from its ``config`` (random weights, as stored).

    Raises
    ------
    HrcamError
        For a custom module, which cannot be rebuilt from a name.
    """
    zoo, name = config.get("zoo"), config.get("name")
    if zoo is None:
        raise HrcamError(
            f"the checkpoint's classifier is your own module ({config.get('arch')}); hrcam "
            "cannot rebuild it by name. Build and wrap it again, then pass it: "
            "load_checkpoint(path, classifier=wrap_classifier(model, ...))"
        )
    return build_wrapped(
        f"{zoo}:{name}",
        None,
        num_classes=int(config["num_classes"]),
        mean=config["mean"],
        std=config["std"],
        taps=config["taps"],
        class_names=config.get("class_names"),
        probe_size=int(config.get("probe_size") or 64),
    )
