"""Peak inference memory of the expansion network on a wrapped classifier with wide CAM features.

For EfficientNet-Lite0 (K = 1280 CAM channels) at 224 px, batch 1, it measures in fresh
processes the peak memory of one forward pass (``torch.inference_mode``, the pass that
:class:`hrcam.Explainer` makes, plus the high-res CAM of the predicted class):

* ``classifier``: the wrapped classifier alone (its own forward pass);
* ``fused r=398``: classifier + expansion network whose last map has r = 398 channels, a basis
  of the 398 animal classes' FC weights, and whose high-res CAM goes through the fused map
  ``fc.weight @ cam_basis`` (exact for those classes; the book's setting);
* ``full K=1280``: the paper's construction taken literally, a 1280-channel full-resolution map
  dotted with the FC weights.

The figure that matters is the peak *above the classifier's own*, plus the expansion
network's weights. On CPU the peak is the process's peak resident set size (``ru_maxrss``)
minus its size just before the pass; on CUDA, ``torch.cuda.max_memory_allocated``.

Run: ``python benchmarks/wrapped_memory.py [--device cuda] [--size 224]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, torch
from hrcam.models import HRCAM, build_expansion, high_res_cam
from hrcam.models.wrap import build_wrapped
mode, size, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(2)
clf = build_wrapped("timm:tf_efficientnet_lite0").to(device).eval()  # random weights: same memory
params = 0
if mode != "classifier":
    if mode == "full":  # no fused map: the plain network with a K-channel last layer
        import hrcam.models.expansion as expansion_module
        expansion_module._MAX_FULL_RES_CHANNELS = 10**9
    classes = range(398) if mode == "fused" else None  # the 398 animal classes, exact
    expansion = build_expansion(clf, image_size=size, classes=classes)
    model = HRCAM(clf, expansion).to(device).eval()
    params = sum(p.numel() * p.element_size() for p in expansion.parameters())
    params += sum(b.numel() * b.element_size() for b in expansion.buffers())
x = torch.rand(1, 3, size, size, device=device)
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
if device.startswith("cuda"):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
else:
    base = rss()
with torch.inference_mode():
    if mode == "classifier":
        out = clf.forward_features(x)
    else:
        out = model(x, reconstruct=False)
        cam = high_res_cam(out.hr_features, model.high_res_weight, out.logits.argmax(1))
if device.startswith("cuda"):
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
print(json.dumps({"peak": peak, "params": params}))
"""


def measure(mode: str, size: int, device: str) -> dict[str, int]:
    """Peak bytes of one forward pass in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(size), device], capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{mode}: the measuring process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2, help="runs per mode; the min is kept")
    args = parser.parse_args()
    mb = 1024**2
    results = {}
    for mode in ("classifier", "fused", "full"):
        runs = [measure(mode, args.size, args.device) for _ in range(args.repeat)]
        results[mode] = min(runs, key=lambda r: r["peak"])
    own = results["classifier"]["peak"]
    print(f"EfficientNet-Lite0 (K=1280), {args.size} px, batch 1, {args.device}:")
    print(f"  classifier alone: peak {own / mb:.1f} MB during the forward pass")
    for mode, label in (("fused", "fused r=398 (hrcam)"), ("full", "full K=1280 (literal)")):
        extra = results[mode]["peak"] - own + results[mode]["params"]
        print(
            f"  {label}: peak {results[mode]['peak'] / mb:.1f} MB; above the classifier's own "
            f"{extra / mb:.1f} MB (incl. {results[mode]['params'] / mb:.1f} MB expansion weights)"
        )


if __name__ == "__main__":
    main()
