"""The basis of a wide classifier's full-resolution CAM map: exact for the explained classes.

A wrapped ImageNet classifier has K = 1280 (or 2048) CAM channels; a K-channel map at 224 px
is 257 MB per image. The expansion network instead ends in r channels h on an orthonormal
basis B of the span of the explained classes' FC weight rows, so that every such class's
high-res CAM ``w_c · (B h) = (w_c B) · h`` is exact (:func:`class_basis`); a smaller r is an
opt-in approximation whose cost to each class :func:`kept_share` measures.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["class_basis", "kept_share"]


def _fixed_signs(basis: torch.Tensor) -> torch.Tensor:
    """Make every column's largest-magnitude entry positive (SVD signs are arbitrary)."""
    rows = basis.abs().argmax(dim=0)
    signs = torch.sign(basis[rows, torch.arange(basis.shape[1])])
    return basis * torch.where(signs == 0, torch.ones_like(signs), signs)


def class_basis(
    fc_weight: torch.Tensor, classes: Sequence[int] | None = None, rank: int | None = None
) -> torch.Tensor:
    """``(K, r)`` orthonormal basis of the span of the explained classes' FC weight rows.

    Parameters
    ----------
    fc_weight
        ``(C, K)`` weights of the classifier's linear layer.
    classes
        Rows the basis must hold (``None``: all ``C``).
    rank
        ``None`` (default): every direction of those rows, so that ``w_c = (w_c B) B^T`` for
        each of them and the high-res CAM of such a class is exact; r is then the rows'
        numerical rank (398 for Lite0's 398 animal rows). An integer keeps only the ``rank``
        directions of largest singular value, an opt-in low-rank approximation; what it keeps
        of each class is :func:`kept_share`.

    Returns
    -------
    torch.Tensor
        Float32 basis with deterministic column signs (right singular vectors of the rows).
    """
    weight = fc_weight.detach().double().cpu()
    if classes is not None:
        weight = weight[torch.as_tensor(list(classes), dtype=torch.long)]
    _, singular, vh = torch.linalg.svd(weight, full_matrices=False)
    if rank is None:
        # Numerical rank, as numpy.linalg.matrix_rank defines it.
        tol = singular.max() * max(weight.shape) * torch.finfo(torch.float64).eps
        rank = max(1, int((singular > tol).sum()))
    return _fixed_signs(vh[:rank].T).float()


def kept_share(fc_weight: torch.Tensor, basis: torch.Tensor | None) -> torch.Tensor:
    """``(C,)`` share of each class's squared weight norm that ``basis`` keeps (1: exact).

    A class's high-res CAM through the basis is ``(P w_c) · F`` with ``P`` the projection on
    the basis' span: the part of ``w_c`` outside it is dropped, and this is what remains.
    """
    weight = fc_weight.detach().double().cpu()
    if basis is None:
        return torch.ones(weight.shape[0], dtype=torch.float64)
    kept = (weight @ basis.double().cpu()).square().sum(1)
    return kept / weight.square().sum(1).clamp_min(1e-300)


def _fc_basis(fc_weight: torch.Tensor, rank: int) -> torch.Tensor:
    """``(K, rank)`` top right singular vectors of all of ``fc_weight`` (signs fixed)."""
    return class_basis(fc_weight, None, rank)


def _parse_classes(classes: Sequence[int] | None, num_classes: int) -> list[int] | None:
    if classes is None:
        return None
    out = [int(c) for c in classes]
    if not out or len(set(out)) != len(out) or not all(0 <= c < num_classes for c in out):
        raise ValueError(
            f"classes must be distinct class indices in [0, {num_classes}), got "
            f"{len(out)} entries" + (f" from {min(out)} to {max(out)}" if out else "")
        )
    return sorted(out)
