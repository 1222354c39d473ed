"""benchmarks/explain.py runs end to end at a tiny size and prints consistent numbers."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "explain.py"


def _value(printed: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s*:\s*([0-9.]+)", printed, flags=re.M)
    assert match, f"{label!r} missing from:\n{printed}"
    return float(match.group(1))


def test_explain_benchmark_tiny(capsys):
    spec = importlib.util.spec_from_file_location("hrcam_bench_explain", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--arch", "densenet_compact", "--image-size", "32", "--batch-size", "2"]
    argv += ["--repeats", "1", "--num-classes", "3", "--threads", "1"]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    forward = _value(printed, "classifier forward")
    refined = _value(printed, "refined CAM")
    assert forward > 0 and refined > 0
    # One repeat: the printed ratio is refined / forward, up to the 0.1 ms print rounding.
    estimate = refined / forward
    slack = estimate * (0.05 / forward + 0.05 / refined) + 0.005
    assert abs(_value(printed, "ratio") - estimate) <= slack
    assert re.search(r"^ratio : [0-9]+\.[0-9]{2}x$", printed, flags=re.M), printed
    # The peers, each printed with its own ratio to the same forward.
    for label in ("torchcam RefineCAM", "grad-cam LayerCAM fused"):
        match = re.search(
            rf"^{re.escape(label)}\s*:\s*([0-9.]+) ms/image\s+([0-9.]+)x the forward",
            printed,
            flags=re.M,
        )
        assert match, f"{label!r} missing from:\n{printed}"
        peer, peer_ratio = float(match.group(1)), float(match.group(2))
        assert peer > 0
        estimate = peer / forward
        assert abs(peer_ratio - estimate) <= estimate * (0.05 / forward + 0.05 / peer) + 0.005
    assert _value(printed, "expansion alone") > 0
    assert _value(printed, "post-processing") > 0
    assert "textbook path" in printed
    # The bfloat16-expansion pipeline, beside the float32 one, with its own ratio line.
    bf16 = _value(printed, "refined CAM, bf16 exp.")
    estimate = bf16 / forward
    slack = estimate * (0.05 / forward + 0.05 / bf16) + 0.005
    assert abs(_value(printed, "ratio (bfloat16-expansion)") - estimate) <= slack
    assert _value(printed, "expansion, bf16") > 0


def test_explain_benchmark_without_peers_and_a_smaller_explainer_batch(capsys):
    """``--no-peers`` drops the peers; a smaller Explainer batch still runs."""
    spec = importlib.util.spec_from_file_location("hrcam_bench_explain", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--arch", "densenet_compact", "--image-size", "32", "--batch-size", "4"]
    argv += ["--repeats", "1", "--num-classes", "3", "--threads", "1", "--no-peers"]
    argv += ["--workers", "1", "--explainer-batch-size", "2", "--no-bf16"]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    assert "torchcam" not in printed and "grad-cam" not in printed and "bf16" not in printed
    assert "explainer batch 2, 1 refine workers" in printed
    assert _value(printed, "ratio") > 0


def test_conv_macs_counts_each_layer_kind():
    import torch
    from torch import nn

    spec = importlib.util.spec_from_file_location("hrcam_bench_explain_macs", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    grouped = nn.Conv2d(4, 4, 1, groups=2)
    up = nn.ConvTranspose2d(4, 2, 2, stride=2)
    fc = nn.Linear(10, 5)
    net = nn.Sequential(conv, grouped, up)
    x = torch.zeros(2, 3, 8, 8)
    # per image: 8*8 px * 4 out * 3 in * 9 taps; 64 px * 4 out * 2 in; 64 input px * 4 * 2 * 4
    assert bench._conv_macs(net, lambda: net(x)) == 2 * (6912 + 512 + 2048)
    assert bench._conv_macs(fc, lambda: fc(torch.zeros(3, 10))) == 3 * 50
    assert not any(m._forward_hooks for m in net.modules())  # hooks removed
