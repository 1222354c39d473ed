"""Exceptions shared across hrcam, and the checks that raise them before any work starts."""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["CLIError", "HrcamError", "MissingExtraError", "describe_os_error", "ensure_output_dir"]


class HrcamError(ValueError):
    """An error meant for the user: what is wrong and what to do.

    The CLI prints ``hrcam: error: ...`` for these, without a traceback. It subclasses
    ``ValueError`` so that callers catching bad-argument errors keep working.
    """


class CLIError(HrcamError):
    """An error raised by the command line itself (bad options, missing inputs)."""


class MissingExtraError(HrcamError):
    """A feature needs a package of a pip extra that is not installed; the message says which.

    Raised by :func:`hrcam.extras.require` with the ``pip install 'hrcam[...]'`` line.
    """


_OS_ADVICE = {
    errno.EACCES: "check its permissions or choose another location",
    errno.EPERM: "check its permissions or choose another location",
    errno.EROFS: "the file system is read-only; choose another location",
    errno.ENOSPC: "the disk is full; free some space or choose another location",
    errno.EDQUOT: "the disk quota is exceeded; free some space or choose another location",
    errno.EEXIST: "a file is in the way; remove it or choose another path",
    errno.ENOTDIR: "a file stands where a folder is needed; choose another path",
    errno.EISDIR: "a folder stands where a file is needed; choose another path",
    errno.ENOENT: "check the path",
    errno.ENAMETOOLONG: "choose a shorter path",
}


def describe_os_error(exc: OSError) -> str:
    """One line for a filesystem error: the path, the system's reason, and what to do."""
    if exc.strerror is None:  # raised with a message of ours, e.g. FileNotFoundError("...")
        return str(exc) or type(exc).__name__
    reason = exc.strerror
    where = f" '{exc.filename}'" if exc.filename else ""
    if exc.filename2:
        where += f" -> '{exc.filename2}'"
    advice = _OS_ADVICE.get(exc.errno or -1)
    line = f"{reason}:{where}" if where else reason
    return f"{line} ({advice})" if advice else line


def ensure_output_dir(
    path: str | os.PathLike, what: str = "output folder", create: bool = True
) -> Path:
    """Create ``path`` as a folder (with parents) and check that it can be written to.

    Called before long work, so that a bad output location fails in the first second, not
    after an hour of computing. With ``create=False`` nothing is created: the nearest existing
    folder on the path must be writable (for builders that refuse some inputs before they
    write, and should leave no empty folder behind then).

    Raises
    ------
    HrcamError
        ``path`` (or a parent) is an existing file, or the folder cannot be created or
        written; the message names the path.
    """
    p = Path(path)
    for parent in (p, *p.parents):
        if parent.exists() and not parent.is_dir():
            raise HrcamError(
                f"{what} {str(p)!r}: {str(parent)!r} is a file, not a folder; choose a folder path"
            )
        if parent.exists():
            break
    if not create:
        existing = next((q for q in (p, *p.absolute().parents) if q.exists()), Path("/"))
        if not os.access(existing, os.W_OK | os.X_OK):
            raise HrcamError(
                f"{what} {str(p)!r}: {str(existing)!r} is not writable; check its permissions "
                "or choose another folder"
            )
        return p
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HrcamError(f"{what} {str(p)!r} cannot be created: {describe_os_error(exc)}") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise HrcamError(
            f"{what} {str(p)!r} is not writable; check its permissions or choose another folder"
        )
    return p
