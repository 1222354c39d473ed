"""Refined CAMs for a batch of images: classifier → expansion network → post-processing.

>>> from hrcam.explain import Explainer
>>> results = Explainer(model, preset="paper").explain(images)  # doctest: +SKIP
>>> results[0].refinement.refined.shape  # doctest: +SKIP
(128, 128)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.core.maps import check_class_indices

if TYPE_CHECKING:
    import torch

    from hrcam.models import HRCAM
    from hrcam.postprocess import RefineResult

__all__ = ["PRECISIONS", "Explainer", "Explanation", "check_precision"]

#: Arithmetic precisions of :class:`Explainer` (and ``hrcam explain --precision``).
PRECISIONS: dict[str, str] = {
    "float32": "both networks as the model is (float32): the exact maps",
    "bfloat16-expansion": (
        "the classifier as it is, the expansion network in bfloat16: predictions and low-res "
        "CAMs unchanged, high-res CAMs to about three significant digits, faster where the CPU "
        "or GPU has bfloat16 dot products"
    ),
    "bfloat16": (
        "bfloat16 autocast for both networks: usually the fastest, but predictions and low-res "
        "CAMs change too"
    ),
}


def check_precision(precision: str) -> None:
    """Raise :class:`hrcam.errors.HrcamError` (a ``ValueError``) unless ``precision`` is known.

    The one check behind :class:`Explainer` and :func:`hrcam.explain.explain_images`, which
    calls it before it creates any output.
    """
    if precision not in PRECISIONS:
        from hrcam.errors import HrcamError

        raise HrcamError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


@dataclass
class Explanation:
    """The explanation of one image.

    Attributes
    ----------
    label
        The explained class (the predicted one unless ``classes`` was given).
    probability
        Softmax probability of ``label``.
    low_res_cam
        ``(h, w)`` float32 low-res CAM of ``label``.
    high_res_cam
        ``(H, W)`` float32 high-res CAM of ``label``.
    refinement
        :class:`hrcam.postprocess.RefineResult`: the refined CAM (``.refined``) and every
        intermediate.
    predicted
        The arg-max class (equals ``label`` by default).
    """

    label: int
    probability: float
    low_res_cam: np.ndarray
    high_res_cam: np.ndarray
    refinement: RefineResult
    predicted: int


class Explainer:
    """Explain images with a trained :class:`~hrcam.models.HRCAM` model.

    Parameters
    ----------
    model
        Frozen classifier + trained expansion network.
    preset
        Post-processing preset for :func:`hrcam.postprocess.refine` (``"paper"`` or
        ``"reference"``).
    device
        Where to run the networks; ``None`` keeps the model where it is.
    precision
        One of :data:`PRECISIONS`. ``"float32"`` (default) gives the exact maps.
        ``"bfloat16-expansion"`` runs a bfloat16 copy of the expansion network
        (:func:`hrcam.models.with_expansion_dtype`) after the unchanged classifier, so that
        only the high-res and refined CAMs change; ``"bfloat16"`` autocasts both networks. CAMs
        are computed in float32 either way. The bfloat16 copy is made here, from the weights and
        device ``model`` has now: after changing either, build a new Explainer.
        ``benchmarks/explain.py`` times ``"float32"`` and ``"bfloat16-expansion"``, and the
        book's "Beyond the paper" page measures what bfloat16 changes in the refined maps.
    channels_last
        Run in NHWC memory format (default). It converts ``model``'s parameters in place and
        changes no result; on a 2-core CPU it made the whole refined-CAM pipeline 1.2x
        (DenseNet-121, ResNet-50 at 224 px) to 1.7x (compact DenseNet at 96 px) faster, and it
        is the fast layout for convolutions on recent GPUs. ``False`` keeps NCHW.
    batch_size
        Images per forward pass.
    workers
        Processes that run the post-processing (:class:`hrcam.parallel.RefinePool`); ``None``
        means every available core on machines with more than two (on two cores the
        transfer costs more than it gains, see :func:`hrcam.parallel.resolve_workers`), ``1``
        runs it in this process. Results are identical and
        in order either way. While the workers refine one batch, the networks run the next.
    allowed_classes
        Predict only among these class indices (e.g.
        :func:`hrcam.models.imagenet_animal_indices`, the paper's 398 animal classes, for an
        ImageNet-1k model). Probabilities stay the softmax over all classes.
    **refine_overrides
        Any :class:`hrcam.postprocess.RefineConfig` field, e.g. ``alpha=0.7``.

    Attributes
    ----------
    buffers : hrcam.models.InferenceBuffers
        Scratch memory the expansion network reuses from one batch to the next. It holds the
        largest dense-block activations of the last batch shape (about 0.3 GB at 224 px and
        batch 8 in float32) until ``explainer.buffers.clear()`` or until the explainer is
        deleted.
    """

    def __init__(
        self,
        model: HRCAM,
        preset: str = "paper",
        device: str | torch.device | None = None,
        *,
        precision: str = "float32",
        channels_last: bool = True,
        batch_size: int = 32,
        workers: int | None = None,
        allowed_classes: Sequence[int] | None = None,
        **refine_overrides: Any,
    ) -> None:
        import torch

        from hrcam.models import HRCAM, InferenceBuffers, with_expansion_dtype
        from hrcam.parallel import RefinePool
        from hrcam.postprocess import resolve_config

        if not isinstance(model, HRCAM):
            raise ValueError(f"model must be an hrcam.models.HRCAM, got {type(model).__name__}")
        check_precision(precision)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        # Check preset and overrides now rather than after the first forward pass.
        self.config = resolve_config(preset, **refine_overrides)
        self.preset = preset
        self.refine_overrides = dict(refine_overrides)
        if device is not None:
            model = model.to(torch.device(device))
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.eval()
        self.precision = precision
        # What explain() runs: the model itself, or one sharing its classifier.
        self._network = (
            with_expansion_dtype(self.model, torch.bfloat16)
            if precision == "bfloat16-expansion"
            else self.model
        )
        self.channels_last = channels_last
        self.batch_size = batch_size
        self.allowed_classes = None
        if allowed_classes is not None:
            allowed = sorted({int(c) for c in allowed_classes})
            if not allowed:
                raise ValueError("allowed_classes must name at least one class")
            check_class_indices(allowed, model.classifier.num_classes, "allowed_classes")
            self.allowed_classes = allowed
        # Reused across explain() calls: at batch 8 on CPU this saves ~5% of the refined-CAM
        # time, at the price of holding the expansion network's largest activations.
        self.buffers = InferenceBuffers()
        self.pool = RefinePool(workers)

    @property
    def device(self) -> torch.device:
        """Device the model runs on."""
        return next(self.model.parameters()).device

    def explain(
        self,
        images: Any,
        classes: torch.Tensor | Sequence[int] | int | None = None,
    ) -> list[Explanation]:
        """Explain a batch of images.

        Parameters
        ----------
        images
            ``(B, 3, H, W)`` uint8 or float in [0, 1] (tensor or numpy array); normalised here.
        classes
            Class to explain per image (``B`` ints, or one for all); default: the predicted one.

        Returns
        -------
        list[Explanation]
            One per image, in input order.
        """
        import torch

        from hrcam.models import high_res_cam, input_stats, low_res_cam, normalize_images

        mean, std = input_stats(self.model)
        x_all = normalize_images(images, mean=mean, std=std)
        batch = x_all.shape[0]
        if classes is not None:
            index = torch.as_tensor(classes)
            if index.dim() == 0:
                index = index.expand(batch)
            if index.shape != (batch,):
                raise ValueError(
                    f"classes must be one int or {batch} ints, got shape {tuple(index.shape)}"
                )
        device = self.device
        fc_weight = self.model.classifier.fc.weight
        hr_weight = self.model.high_res_weight  # fc_weight, or fused for a wrapped model
        autocast = (
            torch.autocast(device_type=device.type, dtype=torch.bfloat16)
            if self.precision == "bfloat16"
            else contextlib.nullcontext()
        )
        chunks: list[tuple[Any, ...]] = []
        for start in range(0, batch, self.batch_size):
            x = x_all[start : start + self.batch_size].to(device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), autocast:
                out = self._network(x, reconstruct=False, buffers=self.buffers)
            probs = torch.softmax(out.logits.float(), dim=1)
            if self.allowed_classes is None:
                predicted = probs.argmax(dim=1)
            else:
                keep = torch.zeros(probs.shape[1], dtype=torch.bool, device=probs.device)
                keep[self.allowed_classes] = True
                predicted = probs.masked_fill(~keep, -1.0).argmax(dim=1)
            labels = predicted if classes is None else index[start : start + len(x)].to(device)
            low = low_res_cam(out.cam_features, fc_weight, labels).cpu().numpy()
            high = high_res_cam(out.hr_features, hr_weight, labels).cpu().numpy()
            chosen = probs.gather(1, labels.long().view(-1, 1)).squeeze(1).cpu()
            # Post-processing starts now, in the workers, while the next batch runs.
            pending = self.pool.submit(list(low), list(high), self.config)
            chunks.append((labels.cpu(), chosen, predicted.cpu(), low, high, pending))
        results: list[Explanation] = []
        for labels, chosen, predicted, low, high, pending in chunks:
            refined = self.pool.gather(pending)
            for i in range(len(labels)):
                results.append(
                    Explanation(
                        label=int(labels[i]),
                        probability=float(chosen[i]),
                        low_res_cam=low[i],
                        high_res_cam=high[i],
                        refinement=refined[i],
                        predicted=int(predicted[i]),
                    )
                )
        return results
