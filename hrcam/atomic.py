"""Atomic file writes: a temporary file beside the target, fsync, then ``os.replace``.

A reader, or a crash mid-write, never sees a half-written file: it sees the old file or the
new one. Checkpoints and metrics files go through here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_text"]


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it: set, then restore
    os.umask(mask)
    return mask


def atomic_write(
    path: str | os.PathLike, write: Callable[[IO[Any]], object], *, text: bool = False
) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it over ``path``.

    Parameters
    ----------
    path
        The file to (re)place; its folder is created if needed.
    write
        Writes the content to the open handle (binary, or text in UTF-8 when ``text``).
    text
        Open the temporary file in text mode (``newline=""``, so CSV writers control endings).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        mode = {"mode": "w", "encoding": "utf-8", "newline": ""} if text else {"mode": "wb"}
        with os.fdopen(fd, **mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file owner-only (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, line endings as given) to ``path`` atomically; returns ``path``."""
    return atomic_write(path, lambda handle: handle.write(text), text=True)
