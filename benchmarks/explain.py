"""Cost of a refined CAM, and of two high-resolution peers, relative to the classifier's forward.

Usage::

    python benchmarks/explain.py [--arch densenet121] [--image-size 224] [--batch-size 8]
                                 [--repeats 5] [--threads 2] [--preset paper] [--no-bf16]
                                 [--growth-rate 16] [--layers-per-block 4]
                                 [--workers N] [--explainer-batch-size B] [--no-peers]
                                 [--checkpoint CKPT]

All timings use the same batch of random images and the same memory format (channels_last
by default, ``--no-channels-last`` for NCHW), after one untimed warm-up of each:

* **classifier**: ``classifier(normalize_images(x))`` under ``torch.inference_mode``;
* **refined CAM** (hrcam): ``Explainer(model, preset, workers=N).explain(x)``, which runs the
  classifier and the expansion network, computes both CAMs and post-processes every image
  (region growing included). With ``--explainer-batch-size`` below ``--batch-size``
  the Explainer's workers post-process one chunk while the networks run the next;
* **refined CAM, bf16 expansion** (hrcam): the same with ``precision="bfloat16-expansion"``:
  the classifier unchanged (float32), the expansion network in bfloat16. Its maps are not the
  float32 ones (the book's "Beyond the paper" page measures how far they move); ``--no-bf16``
  skips it;
* **torchcam RefineCAM**: ``torchcam.methods.RefineCAM`` with ``base_method=LayerCAM`` over 3
  layers, the backbone's last three stage outputs (strides 8, 16 and 32 on DenseNet-121, as
  torchcam's own example uses ResNet's ``layer2``-``layer4``), fused maps resized to the
  image. It backpropagates only down to its earliest hooked layer;
* **grad-cam LayerCAM, fused**: :mod:`hrcam.methods.hires`' ``layercam_fused`` (grad-cam's
  ``LayerCAM`` on the stage outputs from stride 4 on plus the CAM head, fused by maximum), at
  image resolution. grad-cam backpropagates into every parameter.

The peers explain the classifier's predicted classes (computed once, untimed), as hrcam does.
They are timed alternately, ``--repeats`` times each, so that load from other processes on a
shared machine hits all alike; only ratios measured this way are meaningful on a loaded machine.
It prints the median milliseconds per image of each, each as a ratio to the forward (median
time over median time, and the median of the per-repeat ratios), the line ``ratio : X.XXx`` for
hrcam, and where hrcam's extra time goes (expansion network alone, post-processing alone), with
the expansion network's exact inference path timed against its textbook ``torch.cat`` path.
Without ``--checkpoint`` the weights are random, which changes nothing about the cost of the
networks (post-processing time varies a little with the maps). ``--no-peers`` skips torchcam
and grad-cam (they are optional: ``pip install hrcam[bench]``).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any


def _seconds(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _torchcam_refinecam(classifier: Any, size: int) -> Callable[[Any, list[int]], Any]:
    """``fn(images01, targets)``: torchcam's RefineCAM (LayerCAM base) over the backbone's last
    three stage outputs, fused maps at ``size`` x ``size``."""
    from torchcam.methods import LayerCAM, RefineCAM

    from hrcam.methods import pixel_space_model
    from hrcam.methods.hires import StageTaps

    taps = StageTaps(classifier)
    wrapped = pixel_space_model(classifier)
    # torchcam resolves target layers by name among the model's modules.
    wrapped.add_module("stage_taps", taps.taps)
    layers = list(taps.taps)[-3:]
    extractor = RefineCAM(wrapped, layers, input_shape=(3, size, size), base_method=LayerCAM)

    def fn(images: Any, targets: list[int]) -> Any:
        with taps.active():
            scores = wrapped(images.detach().requires_grad_(True))
            maps = extractor(class_idx=targets, scores=scores, target_shape=(size, size))
        return maps[0]

    return fn


def _conv_macs(module: Any, run: Callable[[], Any]) -> int:
    """Multiply-accumulates of every convolution and linear layer in ``module`` during ``run()``.

    A convolution costs (output pixels) x (output channels) x (input channels / groups) x
    (kernel area); a transposed one (input pixels) x (input channels) x (output channels /
    groups) x (kernel area). Everything else (norms, clamps, copies) is left out: these are
    the arithmetic that no exact rewrite of the network avoids.
    """
    from torch import nn

    total = [0]

    def hook(layer: Any, inputs: Any, output: Any) -> None:
        if isinstance(layer, nn.Linear):
            total[0] += output.numel() * layer.in_features
            return
        area = layer.weight.shape[2] * layer.weight.shape[3]
        if isinstance(layer, nn.ConvTranspose2d):
            x = inputs[0]
            pixels = x.shape[0] * x.shape[2] * x.shape[3]
            total[0] += pixels * layer.in_channels * layer.out_channels // layer.groups * area
        else:
            total[0] += output.numel() * layer.in_channels // layer.groups * area

    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def _network_macs(model: Any, one_image: Any, one_skips: list[Any]) -> tuple[int, int]:
    """Convolution MACs per image of the classifier and of the expansion network."""
    classifier = model.classifier
    macs_classifier = _conv_macs(classifier, lambda: classifier(one_image))
    # The textbook path, so that every layer is an nn.Module call the hooks see.

    def expansion() -> None:
        model.expansion(one_skips, reconstruct=False)

    model.expansion.set_fast_inference(False)
    try:
        macs_expansion = _conv_macs(model.expansion, expansion)
    finally:
        model.expansion.set_fast_inference(True)
    return macs_classifier, macs_expansion


def _print_arithmetic(
    macs_classifier: int, macs_expansion: int, t_forward: float, t_expansion: float
) -> None:
    """Each network's MACs, and the expansion network's MAC rate against the classifier's
    (``t_*``: seconds per image)."""
    mac_ratio = macs_expansion / macs_classifier
    rate = (macs_expansion / t_expansion) / (macs_classifier / t_forward)
    print(
        f"  arithmetic       : classifier {macs_classifier / 1e9:.2f} GMAC/image, expansion "
        f"{macs_expansion / 1e9:.2f} GMAC/image = {mac_ratio:.2f}x the classifier's"
    )
    print(
        f"    (at the classifier's MAC rate the two networks alone cost {1 + mac_ratio:.2f}x the "
        f"forward; the expansion network runs at {rate:.2f}x that rate)"
    )


def _expansion_parts(
    model: Any, model16: Any | None, skips: list[Any], buffers: Any, repeats: int
) -> tuple[float, float, float | None]:
    """Median seconds of the expansion network alone: its inference path, its textbook
    ``torch.cat`` path and (``model16`` given) its bfloat16 copy, timed alternately."""
    from hrcam.models import InferenceBuffers

    expansion = model.expansion

    def textbook() -> None:
        expansion.set_fast_inference(False)
        try:
            expansion(skips, reconstruct=False)
        finally:
            expansion.set_fast_inference(True)

    parts = [lambda: expansion(skips, reconstruct=False, buffers=buffers), textbook]
    if model16 is not None:
        buffers16 = InferenceBuffers()
        # float32 skips, as the pipeline passes them: the cast to bfloat16 is part of the cost.
        parts.append(lambda: model16.expansion(skips, reconstruct=False, buffers=buffers16))
    for part in parts:
        part()
    rounds = [[_seconds(part) for part in parts] for _ in range(repeats)]
    medians = [statistics.median(r[i] for r in rounds) for i in range(len(parts))]
    return medians[0], medians[1], medians[2] if model16 is not None else None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the ratios; returns 0."""
    from hrcam.commands.options import positive_int

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="densenet121", help="classifier backbone")
    parser.add_argument("--num-classes", type=int, default=398)
    parser.add_argument(
        "--growth-rate",
        type=positive_int,
        default=16,
        help="expansion network's dense-block growth rate (default 16, the reference code's; "
        "smaller is another, cheaper network, whose maps this benchmark does not judge; "
        "ignored with --checkpoint)",
    )
    parser.add_argument(
        "--layers-per-block",
        type=positive_int,
        default=4,
        help="expansion network's layers per dense block (default 4, the reference code's; "
        "ignored with --checkpoint)",
    )
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8, help="images per timed call")
    parser.add_argument(
        "--explainer-batch-size",
        type=int,
        default=None,
        help="the Explainer's batch_size (default: --batch-size; smaller lets its workers "
        "post-process one chunk while the networks run the next)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--workers", type=int, default=None, help="Explainer workers (default: all cores)"
    )
    parser.add_argument("--preset", default="paper", choices=("paper", "reference"))
    parser.add_argument("--checkpoint", default=None, help="use a trained hrcam checkpoint")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time torchcam's RefineCAM and grad-cam's fused LayerCAM (default on)",
    )
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time hrcam with precision='bfloat16-expansion' (default on)",
    )
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="NHWC memory format on every side (default on: DenseNet convs run ~2x faster on CPU)",
    )
    args = parser.parse_args(argv)

    import torch

    from hrcam.explain import Explainer
    from hrcam.models import (
        HRCAM,
        build_classifier,
        build_expansion,
        load_checkpoint,
        normalize_images,
        with_expansion_dtype,
    )
    from hrcam.postprocess import refine

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.checkpoint:
        ckpt = load_checkpoint(args.checkpoint, map_location=args.device)
        model = ckpt.model()
        size = ckpt.metadata.get("image_size") or args.image_size
        arch = ckpt.metadata.get("arch")
    else:
        clf = build_classifier(args.arch, num_classes=args.num_classes)
        expansion = build_expansion(
            clf,
            image_size=args.image_size,
            growth_rate=args.growth_rate,
            layers_per_block=args.layers_per_block,
        )
        model = HRCAM(clf, expansion)
        size, arch = args.image_size, args.arch
    model = model.to(args.device).eval()
    images = torch.randint(0, 256, (args.batch_size, 3, size, size), dtype=torch.uint8)
    # Every side runs in the same memory format, so the ratios compare like with like.
    explainer = Explainer(
        model,
        preset=args.preset,
        batch_size=args.explainer_batch_size or args.batch_size,
        channels_last=args.channels_last,
        workers=args.workers,
    )
    classifier = model.classifier
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format

    def forward_only() -> None:
        with torch.inference_mode():
            x = normalize_images(images).to(args.device)
            classifier(x.contiguous(memory_format=memory_format))

    refined_out = []

    def refined() -> None:
        refined_out[:] = explainer.explain(images)

    timed: dict[str, Callable[[], Any]] = {"forward": forward_only, "hrcam": refined}
    labels = {
        "hrcam": "refined CAM",
        "hrcam_bf16": "refined CAM, bf16 exp.",
        "torchcam": "torchcam RefineCAM",
        "gradcam": "grad-cam LayerCAM fused",
    }
    model16 = None
    if args.bf16:
        model16 = with_expansion_dtype(model, torch.bfloat16)  # for the expansion-alone timing
        explainer16 = Explainer(
            model,
            preset=args.preset,
            batch_size=explainer.batch_size,
            channels_last=args.channels_last,
            workers=args.workers,
            precision="bfloat16-expansion",
        )
        timed["hrcam_bf16"] = lambda: explainer16.explain(images)
    if args.peers:
        from hrcam.methods.hires import hires_method

        images01 = (images.float() / 255).to(args.device).contiguous(memory_format=memory_format)
        with torch.inference_mode():
            targets = [int(t) for t in classifier(normalize_images(images01)).argmax(dim=1)]
        torchcam_fn = _torchcam_refinecam(classifier, size)
        layercam = hires_method(model, "layercam_fused")
        timed["torchcam"] = lambda: torchcam_fn(images01, targets)
        timed["gradcam"] = lambda: layercam(images01, targets)

    for fn in timed.values():  # warm-up: allocator, lazy imports, worker processes
        fn()
    rounds = [{name: _seconds(fn) for name, fn in timed.items()} for _ in range(args.repeats)]
    per_image = {
        name: statistics.median(r[name] for r in rounds) / args.batch_size for name in timed
    }
    t_fwd = per_image["forward"]
    ratio = per_image["hrcam"] / t_fwd
    pair_ratio = {
        name: statistics.median(r[name] / r["forward"] for r in rounds)
        for name in timed
        if name != "forward"
    }

    # Where hrcam's extra time goes: each part alone, on the same batch.
    with torch.inference_mode():
        x = normalize_images(images).to(args.device).contiguous(memory_format=memory_format)
        skips = classifier.forward_features(x).skips
        maps = [(e.low_res_cam, e.high_res_cam) for e in refined_out]

        t_exp, t_textbook, t_exp16 = _expansion_parts(
            model, model16, skips, explainer.buffers, args.repeats
        )
        macs = _network_macs(model, x[:1], [s[:1] for s in skips])
    t_post = statistics.median(
        _seconds(lambda: [refine(lo, hi, config=explainer.config) for lo, hi in maps])
        for _ in range(args.repeats)
    )
    explainer.pool.close()
    if args.bf16:
        explainer16.pool.close()
    print(
        f"{arch} at {size}px, batch {args.batch_size} (explainer batch {explainer.batch_size}, "
        f"{explainer.pool.workers} refine workers), preset {args.preset}, "
        f"{torch.get_num_threads()} threads, {args.device}, {platform.processor() or 'cpu'}, "
        f"{'channels_last' if args.channels_last else 'contiguous (NCHW)'}, "
        f"{args.repeats} alternating repeats"
    )
    print(f"classifier forward : {1000 * t_fwd:8.1f} ms/image")
    for name, label in labels.items():
        if name in per_image:
            print(
                f"{label:<23}: {1000 * per_image[name]:8.1f} ms/image  "
                f"{per_image[name] / t_fwd:6.2f}x the forward "
                f"(median pair ratio {pair_ratio[name]:.2f}x)"
            )
    print(f"  expansion alone  : {1000 * t_exp / args.batch_size:8.1f} ms/image")
    print(
        f"    (textbook path : {1000 * t_textbook / args.batch_size:8.1f} ms/image, "
        f"{t_textbook / t_exp:.2f}x slower; see ExpansionNetwork.set_fast_inference)"
    )
    if t_exp16 is not None:
        print(
            f"  expansion, bf16  : {1000 * t_exp16 / args.batch_size:8.1f} ms/image "
            f"({t_exp / t_exp16:.2f}x faster than float32)"
        )
    print(f"  post-processing  : {1000 * t_post / args.batch_size:8.1f} ms/image (one process)")
    _print_arithmetic(*macs, t_fwd, t_exp / args.batch_size)
    print(f"ratio : {ratio:.2f}x")
    print(f"median pair ratio  : {pair_ratio['hrcam']:8.2f}x")
    if args.bf16:
        print(f"ratio (bfloat16-expansion) : {per_image['hrcam_bf16'] / t_fwd:.2f}x")
        print(f"median pair ratio (bfloat16-expansion) : {pair_ratio['hrcam_bf16']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
