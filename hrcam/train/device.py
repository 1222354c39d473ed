"""The speed switches of a training step on its device: autocast, channels_last, compile.

Turning a device name into a ``torch.device`` is :func:`hrcam.models.device.resolve_device`,
shared with evaluation and explanation; :func:`resolve_settings` builds on it.

Every function here runs on CPU as well, so that CI exercises the same code that a GPU run uses.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hrcam.models.device import resolve_device
from hrcam.parallel import available_cores

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class DeviceSettings:
    """The resolved device and speed switches of one run.

    Attributes
    ----------
    device
        The ``torch.device`` the model and batches live on.
    amp
        bf16 autocast in the forward pass.
    channels_last
        Model weights and input batches in NHWC memory format.
    compile
        ``torch.compile`` the training module.
    pin_memory
        Page-locked host buffers in the DataLoader, for asynchronous host-to-device copies.
    num_workers
        DataLoader worker processes.
    """

    device: torch.device
    amp: bool
    channels_last: bool
    compile: bool
    pin_memory: bool
    num_workers: int

    @property
    def is_cuda(self) -> bool:
        """Whether the run is on a CUDA device."""
        return self.device.type == "cuda"


def default_num_workers(device: torch.device) -> int:
    """Return the number of loader workers: none on CPU, several on CUDA.

    On CPU they would compete with the compute threads; on CUDA they let the memmap reads and
    collation overlap the GPU step.
    """
    if device.type != "cuda":
        return 0
    return max(1, min(8, available_cores() - 1))


def resolve_settings(
    device: str = "auto",
    amp: bool | None = None,
    channels_last: bool | None = None,
    compile: bool = False,
    num_workers: int | None = None,
    local_rank: int | None = None,
) -> DeviceSettings:
    """Resolve the ``None`` (= automatic) switches for the chosen device.

    bf16 autocast defaults to on for CUDA only (bf16 is slow on most CPUs); channels_last
    defaults to on everywhere: it is the fast GPU path in DESIGN.md, and on this project's CPU
    a compact-DenseNet training step took about 0.7x the time of NCHW as well.
    """
    dev = resolve_device(device, local_rank)
    cuda = dev.type == "cuda"
    return DeviceSettings(
        device=dev,
        amp=cuda if amp is None else bool(amp),
        channels_last=True if channels_last is None else bool(channels_last),
        compile=bool(compile),
        pin_memory=cuda,
        num_workers=default_num_workers(dev) if num_workers is None else int(num_workers),
    )


def autocast(settings: DeviceSettings) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on the run's device when enabled, otherwise a no-op context."""
    import torch

    if not settings.amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=settings.device.type, dtype=torch.bfloat16)


def to_memory_format(x: torch.Tensor, settings: DeviceSettings) -> torch.Tensor:
    """Put a 4-D batch into channels_last when the run uses it, else plain contiguous NCHW.

    Store batches arrive as NCHW views of NHWC arrays (already channels_last in memory), so
    the NCHW case really copies: that keeps the two settings from silently mixing formats.
    """
    import torch

    if settings.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


def prepare_module(module: torch.nn.Module, settings: DeviceSettings) -> torch.nn.Module:
    """Move a module to the device and memory format of the run (in place; returns it)."""
    import torch

    module.to(settings.device)
    if settings.channels_last:
        module.to(memory_format=torch.channels_last)
    return module


def maybe_compile(module: torch.nn.Module, settings: DeviceSettings) -> torch.nn.Module:
    """``torch.compile`` the module when asked; the original stays the one that is saved."""
    import torch

    if not settings.compile:
        return module
    return torch.compile(module)  # type: ignore[return-value]


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (for honest timings); no-op on CPU."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
