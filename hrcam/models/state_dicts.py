"""Which weights of a state dict do not fit a model, and a message that says so.

:func:`state_dict_differences` compares key by key and shape by shape; :func:`differences_text`
names the first few of each kind. Loading a checkpoint, a backbone's weights and a wrapped
classifier all report mismatches this way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["BATCHNORM_FILLS_IN", "differences_text", "state_dict_differences"]


# BatchNorm fills in a missing num_batches_tracked counter itself (older saves lack it).
BATCHNORM_FILLS_IN = (".num_batches_tracked",)


def state_dict_differences(
    own: Mapping[str, Any], given: Mapping[str, Any], fills_in: tuple[str, ...] = ()
) -> tuple[list[str], list[str], list[str]]:
    """Compare a state dict ``given`` with a model's own, ``own``, key by key.

    Parameters
    ----------
    own, given
        Names -> tensors (anything with a ``shape``): the model's state dict and the one to
        load into it.
    fills_in
        Key endings that ``given`` may lack because loading fills them in
        (:data:`BATCHNORM_FILLS_IN`); such keys are not reported missing.

    Returns
    -------
    missing, unexpected, mismatched : list of str
        The keys of ``own`` that ``given`` lacks, the keys of ``given`` that ``own`` lacks,
        and ``"key: expected (shape), found (shape)"`` for each shared key whose shapes
        differ, in the order of ``own`` (``given`` for ``unexpected``).
    """
    missing = [k for k in own if k not in given and not (fills_in and k.endswith(fills_in))]
    unexpected = [k for k in given if k not in own]
    mismatched = [
        f"{k}: expected {tuple(own[k].shape)}, found {tuple(given[k].shape)}"
        for k in own
        if k in given and own[k].shape != given[k].shape
    ]
    return missing, unexpected, mismatched


def differences_text(
    missing: Sequence[str], unexpected: Sequence[str], mismatched: Sequence[str]
) -> str:
    """Name the first few keys of each :func:`state_dict_differences` list, with counts."""
    return (
        f"missing {list(missing[:3])} ({len(missing)}), unexpected {list(unexpected[:3])} "
        f"({len(unexpected)}), shape mismatches {list(mismatched[:2])} ({len(mismatched)})"
    )
