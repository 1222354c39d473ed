"""Turn a device name (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``) into a ``torch.device``.

Training, evaluation, explanation and the book all place models with :func:`resolve_device`;
it lives here, beside the models, so that none of them imports another for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device"]


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a ``torch.device``.

    Under torchrun, ``local_rank`` picks this process's GPU when ``name`` is ``"auto"`` or
    ``"cuda"``.
    """
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for but CUDA is not available; use 'cpu'")
        if device.index is None:
            device = torch.device("cuda", local_rank or 0)
        count = torch.cuda.device_count()
        if device.index >= count:
            raise ValueError(
                f"device {name!r}: this machine has {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
    elif device.type != "cpu":
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    elif device.index not in (None, 0):
        # torch would accept it, then fail to map a checkpoint's tensors onto it.
        raise ValueError(f"device {name!r}: there is one CPU device; use 'cpu'")
    return device
