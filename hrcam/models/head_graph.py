"""A classifier's head and skip taps, read from its traced graph (for :mod:`hrcam.models.wrap`).

The head must be one linear layer on the global average of the final feature map; the skip
taps are, per stride, the output of the outermost module through which every path of the
network passes (a stage boundary), or timm's ``feature_info``.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import torch
from torch import nn

from hrcam.models.wrap_checks import probe_failed, refuse

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
