"""Exclusive locks on run and output folders, so that two processes never write one folder.

>>> with folder_lock("runs/demo/expansion", "--run-dir"):  # doctest: +SKIP
...     train()

The lock is ``fcntl.flock`` on a file ``.hrcam.lock`` in the folder. The kernel releases it
when the holder exits in any way (a crash or ``kill -9`` included), so a lock is never stale:
a later process takes it over. A second process that finds it held gets a
:class:`FolderLockedError` naming the folder and the holder's process id, at once (no
waiting). The file is removed when the lock is released; while held, it holds the holder's
PID. It is opened with ``O_NOFOLLOW`` and must be a regular file: a symlink (dangling or not),
FIFO or device planted as ``.hrcam.lock`` is refused with one line, never written through.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from hrcam.errors import HrcamError, describe_os_error

__all__ = ["LOCK_NAME", "FolderLockedError", "folder_lock"]

LOCK_NAME = ".hrcam.lock"
"""The lock file's name inside the locked folder."""


class FolderLockedError(HrcamError):
    """Another live process holds the folder's lock."""


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "folder") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if needed) for the ``with`` block.

    Parameters
    ----------
    folder
        The run or output folder.
    what
        How the message names the folder (e.g. ``"--run-dir"``).

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    FolderLockedError
        Another process holds the lock; the message names the folder and that process's PID.
    HrcamError
        The folder or its lock file cannot be created.
    """
    path = Path(folder)
    created = not path.exists()
    fd = _acquire(path, what)
    lock = path / LOCK_NAME
    try:
        yield lock
    finally:
        # Unlink while still holding the lock: a process waiting on the old file then sees
        # that it was replaced (see _acquire) and takes a fresh one.
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)
        if created:  # leave no empty folder behind a run that wrote nothing
            with contextlib.suppress(OSError):
                path.rmdir()


#: Opening the lock file is retried at most this often when its folder vanishes under us (a
#: releasing holder removes the folder it created); more means something else is wrong.
_MAX_TRIES = 50
# O_NOFOLLOW: a symlink planted as the lock file is refused (ELOOP), never written through.
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


def _open_lock(path: Path, what: str) -> int | None:
    """Open ``path/LOCK_NAME`` as a regular file; ``None`` when the folder vanished just now."""
    lock = path / LOCK_NAME
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, _OPEN_FLAGS, 0o666)
    except FileNotFoundError:
        return None  # the folder was removed by a releasing holder just now: try again
    except OSError as exc:
        if exc.errno == errno.ELOOP or lock.is_symlink():
            raise HrcamError(
                f"{what} {str(path)!r}: its lock file {str(lock)!r} is a symbolic link; hrcam "
                "never writes through one: remove it, or choose another folder"
            ) from None
        raise HrcamError(f"{what} {str(path)!r}: {describe_os_error(exc)}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, device or socket planted there
        os.close(fd)
        raise HrcamError(
            f"{what} {str(path)!r}: its lock file {str(lock)!r} is not a regular file; remove "
            "it, or choose another folder"
        )
    return fd


def _acquire(path: Path, what: str) -> int:
    """Open, lock and stamp ``path/LOCK_NAME``; return its descriptor."""
    lock = path / LOCK_NAME
    for _ in range(_MAX_TRIES):
        fd = _open_lock(path, what)
        if fd is None:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise HrcamError(f"{what} {str(path)!r}: {describe_os_error(exc)}") from None
            raise FolderLockedError(
                f"{what} {str(path)!r} is in use by another hrcam process"
                f"{f' (PID {holder})' if holder else ''}; wait for it to finish, or choose "
                "another folder"
            ) from None
        if _is_current(fd, lock):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # locked a file its holder had just unlinked: take the new one
    raise HrcamError(
        f"{what} {str(path)!r}: could not take its lock file {str(lock)!r} after {_MAX_TRIES} "
        "tries (it keeps vanishing or being replaced); check what else writes there"
    )


def _is_current(fd: int, lock: Path) -> bool:
    """Return whether ``fd`` is still the file at ``lock`` (not one unlinked since)."""
    try:
        now = os.stat(lock)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def _read_pid(fd: int) -> int | None:
    """Return the PID stamped in a lock file, or ``None`` when none is written yet."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
