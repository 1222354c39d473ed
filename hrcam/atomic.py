"""Atomic file writes: a temporary file beside the target, fsync, then ``os.replace``.

A reader, or a crash mid-write, never sees a half-written file: it sees the old file or the
new one. Checkpoints and metrics files go through here.
"""

from __future__ import annotations

import contextlib
import io
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


class _RawFile(io.FileIO):
    """The temporary file: remembers the ``OSError`` of a failed write.

    Writers that wrap the file (``torch.save``'s zip writer) turn a failed write into an
    error of their own that names neither the file nor the cause; this keeps the cause.
    """

    failure: OSError | None = None

    def write(self, data: Any) -> int | None:  # type: ignore[override]
        try:
            return _write(self, data)
        except OSError as exc:
            self.failure = exc
            raise


_write = io.FileIO.write  # the one system write; tests patch it to simulate a full disk


def _open(fd: int, text: bool) -> tuple[_RawFile, IO[Any]]:
    raw = _RawFile(fd, "w")
    handle: IO[Any] = io.BufferedWriter(raw)
    if text:
        handle = io.TextIOWrapper(handle, encoding="utf-8", newline="")  # type: ignore[arg-type]
    return raw, handle


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

    Raises
    ------
    OSError
        The file could not be written (a full disk ...): the error names ``path``, also where
        the writer's own error did not (``torch.save``'s "unexpected pos", numpy's "N requested
        and M written").
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        raw, handle = _open(fd, text)
        try:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        except (OSError, RuntimeError) as exc:
            named = _named_write_error(exc, raw, path)
            with contextlib.suppress(OSError):  # flushing the rest fails the same way
                handle.close()
            if named is None:
                raise
            raise named from exc
        handle.close()
        # mkstemp makes the file owner-only (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _named_write_error(exc: BaseException, raw: _RawFile, path: Path) -> OSError | None:
    """Return the system error behind a failed write, naming ``path`` (``None``: not a write's)."""
    cause = raw.failure
    if cause is None and _stopped_short(exc):
        # numpy writes through the file descriptor, so no failure was recorded: one more
        # write to the (discarded) temporary file gives the system's reason.
        try:
            raw.write(b"\0" * 4096)
            raw.flush()
        except OSError as probe:
            cause = probe
    if cause is None and isinstance(exc, OSError) and exc.errno and not exc.filename:
        cause = exc
    if cause is None or not cause.errno:
        return None
    return OSError(cause.errno, cause.strerror or os.strerror(cause.errno), str(path))


def _stopped_short(exc: BaseException) -> bool:
    """Whether ``exc`` is a writer's own report of a short write (no ``errno`` in it)."""
    text = str(exc)
    if isinstance(exc, OSError):
        return exc.errno is None and "written" in text  # numpy: "4096 requested and 992 written"
    return "inline_container" in text  # torch.save: "[enforce fail at inline_container.cc..."


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, line endings as given) to ``path`` atomically; returns ``path``."""
    return atomic_write(path, lambda handle: handle.write(text), text=True)
