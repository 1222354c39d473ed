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

import contextlib
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrcam._shared import (
    BATCHNORM_FILLS_IN,
    differences_text,
    resource_table,
    state_dict_differences,
)
from hrcam.errors import HrcamError
from hrcam.models.classifier import CAMClassifier, ClassifierOutput, check_images
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


# -- head analysis on the traced graph ------------------------------------------------------

_PASS_MODULES = (nn.Dropout, nn.Identity, nn.Flatten)
_PASS_NAMES = {"flatten", "reshape", "view", "squeeze", "dropout", "contiguous", "identity"}


def _passthrough(node: Any, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules[node.target], _PASS_MODULES)
    if node.op in ("call_function", "call_method"):
        name = getattr(node.target, "__name__", str(node.target))
        return name in _PASS_NAMES
    return False


def _is_global_pool(node: Any, modules: dict[str, nn.Module]) -> bool:
    def is_one(size: Any) -> bool:
        return size == 1 or tuple(size) == (1, 1) if size is not None else False

    if node.op == "call_module":
        module = modules[node.target]
        return isinstance(module, nn.AdaptiveAvgPool2d) and is_one(module.output_size)
    name = getattr(node.target, "__name__", str(node.target))
    if node.op in ("call_function", "call_method") and name == "adaptive_avg_pool2d":
        size = node.args[1] if len(node.args) > 1 else node.kwargs.get("output_size")
        return is_one(size)
    if node.op in ("call_function", "call_method") and name == "mean":
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        dims = tuple(dims) if isinstance(dims, list | tuple) else (dims,)
        return sorted(d % 4 if isinstance(d, int) else d for d in dims) == [2, 3]
    return False


def _describe(node: Any, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return f"{type(modules[node.target]).__name__} module {node.target!r}"
    return f"{getattr(node.target, '__name__', node.target)} ({node.op})"


# What a model's wrapping is built from: (extractor, fc, tap names, stride, final map's name).
_Parts = tuple[nn.Module, nn.Linear, list[str], int, str]


def _analyse_graph(model: nn.Module, probe: torch.Tensor) -> tuple[str, str, dict[str, Any]]:
    """Trace ``model``: ``(final_node, fc_name, info)`` where info has the skip taps.

    ``probe`` is a dummy ``(1, 3, S, S)`` input: the strides of the feature maps are read from
    the shapes it gives them.
    """
    from torch import fx
    from torch.fx.passes.shape_prop import ShapeProp
    from torchvision.models.feature_extraction import NodePathTracer, _set_default_tracer_kwargs

    tracer = NodePathTracer(**_set_default_tracer_kwargs(None))
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # fx raises many types for untraceable Python
        raise refuse(
            model,
            f"torch.fx cannot trace it ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "give a model without data-dependent Python control flow",
        ) from exc
    gm = fx.GraphModule(tracer.root, graph)
    nodes = list(graph.nodes)
    image_size = int(probe.shape[-1])
    final, fc_name = _gap_linear_head(model, nodes, dict(gm.named_modules()))
    try:
        # ShapeProp prints the failing node's traceback itself; the refusal says it in a line.
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            ShapeProp(gm).propagate(probe)
    except Exception as exc:
        raise probe_failed(model, image_size, exc) from None
    qualname = tracer.node_to_qualname
    final_stride = _node_stride(final, image_size)
    if final_stride is None:
        shape = tuple(getattr(final.meta.get("tensor_meta"), "shape", ()))
        if len(shape) == 4:  # a map, but not input / stride: valid convolutions (Inception)
            raise refuse(
                model,
                f"its final map {qualname.get(final)!r} is {shape[-2]}x{shape[-1]} for a "
                f"{image_size}-px input, not the input divided by a whole stride (pass a "
                "probe_size that is a multiple of its stride, e.g. 64 for stride 32; a model "
                "of unpadded convolutions, such as Inception, has no whole stride)",
            )
        raise refuse(model, f"the pooled map {qualname.get(final)!r} is not a 4-D feature map")
    names_of = _module_names(nodes, qualname)
    taps = _pick_taps(nodes, names_of, image_size, final_stride)
    final_name = min(names_of.get(final, [qualname[final]]), key=_shallowest)
    return final_name, fc_name, {"taps": taps, "stride": final_stride}


def _gap_linear_head(
    model: nn.Module, nodes: list[Any], modules: dict[str, nn.Module]
) -> tuple[Any, str]:
    """``(pooled feature-map node, fc module name)``, or refuse a model that is not GAP + linear."""
    from torch import fx

    output = next(n for n in nodes if n.op == "output")
    node = output.args[0]
    if not isinstance(node, fx.Node):
        raise refuse(model, "its forward returns more than one tensor")
    while _passthrough(node, modules):
        node = node.args[0]
    if not (node.op == "call_module" and isinstance(modules[node.target], nn.Linear)):
        raise refuse(model, f"its output comes from {_describe(node, modules)}, not nn.Linear")
    fc_name = node.target
    node = node.args[0]
    while _passthrough(node, modules):
        node = node.args[0]
    if not _is_global_pool(node, modules):
        raise refuse(
            model,
            f"between the final linear layer {fc_name!r} and the feature map there is "
            f"{_describe(node, modules)}, not a global average pooling",
        )
    return node.args[0], fc_name


def _shallowest(name: str) -> tuple[int, int]:
    """Sort key of module names: the least nested, then the shortest, first."""
    return name.count("."), len(name)


def _node_stride(n: Any, image_size: int) -> int | None:
    """Return the stride of a node's 4-D output (from its traced shape); ``None`` if not a map."""
    meta = n.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    if shape is None or len(shape) != 4 or shape[-1] == 0:
        return None
    return image_size // int(shape[-1]) if image_size % int(shape[-1]) == 0 else None


def _module_names(nodes: list[Any], qualname: dict[Any, str]) -> dict[Any, list[str]]:
    """For each node, the module-name prefixes whose last node it is (where a tap can go)."""
    last_of_prefix: dict[str, Any] = {}
    for n in nodes:
        name = qualname.get(n)
        if name is None:
            continue
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            last_of_prefix[".".join(parts[:depth])] = n
    names_of: dict[Any, list[str]] = {}
    for prefix, n in last_of_prefix.items():
        names_of.setdefault(n, []).append(prefix)
    return names_of


def _pick_taps(
    nodes: list[Any], names_of: dict[Any, list[str]], image_size: int, final_stride: int
) -> list[str]:
    """One tap per stride finer than the final map: the shallowest, latest cut node."""
    index = {n: i for i, n in enumerate(nodes)}
    # A "cut" node carries everything forward: no edge from before it jumps past it.
    reach = -1
    cuts = set()
    for i, n in enumerate(nodes):
        if reach <= i and n.op not in ("placeholder", "output"):
            cuts.add(n)
        for user in n.users:
            reach = max(reach, index[user])
    best: dict[int, tuple[int, int, str]] = {}
    for n in nodes:
        s = _node_stride(n, image_size)
        if n not in cuts or s is None or s >= final_stride or n not in names_of:
            continue
        name = min(names_of[n], key=_shallowest)
        score = (name.count("."), -index[n])
        if s not in best or score <= best[s][:2]:
            best[s] = (*score, name)
    return [best[s][2] for s in sorted(best)]


def _timm_taps(model: nn.Module, final_stride: int) -> list[str]:
    info = getattr(model, "feature_info", None)
    if not info:
        raise refuse(model, "this timm model has no feature_info to take skip taps from")
    by_stride: dict[int, str] = {}
    for entry in info:
        reduction, module = int(entry["reduction"]), str(entry["module"])
        if reduction < final_stride:
            by_stride[reduction] = module
    return [by_stride[s] for s in sorted(by_stride)]


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
    """``import timm``, or an :class:`HrcamError` saying how to install it.

    timm imports huggingface_hub, which imports ``tqdm.auto``; in a Jupyter kernel without
    ipywidgets that prints a TqdmWarning into the book, so it is silenced here.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="IProgress not found")
            import huggingface_hub.file_download  # noqa: F401  (the tqdm.auto import)
            import timm
    except ImportError as exc:
        raise HrcamError("timm is not installed: pip install timm") from exc
    return timm


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
