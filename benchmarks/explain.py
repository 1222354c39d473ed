"""Cost of a refined CAM relative to the classifier's forward pass alone, on CPU.

Usage::

    python benchmarks/explain.py [--arch densenet121] [--image-size 224] [--batch-size 8]
                                 [--repeats 7] [--threads 2] [--preset paper]
                                 [--checkpoint CKPT]

Both timings use the same batch of random images and the same memory format (channels_last
by default, ``--no-channels-last`` for NCHW), after one untimed warm-up:

* **classifier**: ``classifier(normalize_images(x))`` under ``torch.inference_mode``;
* **refined CAM**: ``Explainer(model, preset).explain(x)``, which runs the classifier and the
  expansion network, computes both CAMs and post-processes every image (SimpleITK region
  growing included).

The two are timed alternately, ``--repeats`` times each, so that load from other processes on
a shared machine hits both alike. It prints the median milliseconds per image of each, their
ratio (the target is <= 2x), the median of the per-repeat ratios, and where the extra time goes
(expansion network alone, post-processing alone), with the expansion network's exact
inference path timed against its textbook ``torch.cat`` path. Without
``--checkpoint`` the weights are random, which changes nothing about the cost of the networks
(post-processing time varies a little with the maps).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the ratio; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="densenet121", help="classifier backbone")
    parser.add_argument("--num-classes", type=int, default=398)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--preset", default="paper", choices=("paper", "reference"))
    parser.add_argument("--checkpoint", default=None, help="use a trained hrcam checkpoint")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="NHWC memory format on both sides (default on: DenseNet convs run ~2x faster on CPU)",
    )
    args = parser.parse_args(argv)

    import torch

    from hrcam.explainer import Explainer
    from hrcam.models import (
        HRCAM,
        build_classifier,
        build_expansion,
        load_checkpoint,
        normalize_images,
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
        model = HRCAM(clf, build_expansion(clf, image_size=args.image_size))
        size, arch = args.image_size, args.arch
    model = model.to(args.device).eval()
    images = torch.randint(0, 256, (args.batch_size, 3, size, size), dtype=torch.uint8)
    # Both sides run in the same memory format, so the ratio compares like with like.
    explainer = Explainer(
        model, preset=args.preset, batch_size=args.batch_size, channels_last=args.channels_last
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

    forward_only()  # warm-up: allocator, lazy imports, SimpleITK
    refined()
    pairs = [(_seconds(forward_only), _seconds(refined)) for _ in range(args.repeats)]
    t_fwd = statistics.median(f for f, _ in pairs) / args.batch_size
    t_ref = statistics.median(r for _, r in pairs) / args.batch_size
    ratio = t_ref / t_fwd
    pair_ratio = statistics.median(r / f for f, r in pairs)

    # Where the extra time goes: each part alone, on the same batch.
    with torch.inference_mode():
        x = normalize_images(images).to(args.device).contiguous(memory_format=memory_format)
        skips = classifier.forward_features(x).skips
        maps = [(e.low_res_cam, e.high_res_cam) for e in refined_out]

        def expansion_only() -> None:
            model.expansion(skips, reconstruct=False, buffers=explainer.buffers)

        def expansion_textbook() -> None:
            model.expansion.set_fast_inference(False)
            try:
                model.expansion(skips, reconstruct=False)
            finally:
                model.expansion.set_fast_inference(True)

        expansion_only()
        expansion_textbook()
        exp_pairs = [
            (_seconds(expansion_only), _seconds(expansion_textbook)) for _ in range(args.repeats)
        ]
        t_exp = statistics.median(fast for fast, _ in exp_pairs)
        t_textbook = statistics.median(slow for _, slow in exp_pairs)
    t_post = statistics.median(
        _seconds(lambda: [refine(lo, hi, config=explainer.config) for lo, hi in maps])
        for _ in range(args.repeats)
    )
    print(
        f"{arch} at {size}px, batch {args.batch_size}, preset {args.preset}, "
        f"{torch.get_num_threads()} threads, {args.device}, {platform.processor() or 'cpu'}, "
        f"{'channels_last' if args.channels_last else 'contiguous (NCHW)'}, "
        f"{args.repeats} alternating repeats"
    )
    print(f"classifier forward : {1000 * t_fwd:8.1f} ms/image")
    print(f"refined CAM        : {1000 * t_ref:8.1f} ms/image")
    print(f"  expansion alone  : {1000 * t_exp / args.batch_size:8.1f} ms/image")
    print(
        f"    (textbook path : {1000 * t_textbook / args.batch_size:8.1f} ms/image, "
        f"{t_textbook / t_exp:.2f}x slower; see ExpansionNetwork.set_fast_inference)"
    )
    print(f"  post-processing  : {1000 * t_post / args.batch_size:8.1f} ms/image")
    print(
        f"ratio              : {ratio:8.2f}x  (target <= 2x: {'met' if ratio <= 2 else 'NOT met'})"
    )
    print(f"median pair ratio  : {pair_ratio:8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
