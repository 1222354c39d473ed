"""Read Qt binary resource files (``.rcc``) without Qt.

Debian's ``gcompris-qt-data`` ships its photographs inside such files. The layout, from Qt's
``rcc`` (``qtbase/src/tools/rcc/rcc.cpp``) and ``QResourceRoot`` (``qresource.cpp``), all
integers big-endian:

* **Header.** ``b"qres"``, format version (1, 2 or 3), then the offsets of the tree, the data
  and the names; format 3 adds a flags word.
* **Tree.** Fixed-size nodes (14 bytes; 22 from format 2, which appends a 64-bit modification
  time). Node 0 is the root. A node holds the offset of its name and its flags; a directory
  (flag 2) then holds its child count and the index of its first child (children are
  consecutive and sorted by name hash); a file holds a locale (two 16-bit words) and the offset
  of its data.
* **Names.** A 16-bit length in UTF-16 code units, a 32-bit hash, then the UTF-16BE text.
* **Data.** A 32-bit size, then the bytes. Flag 1 marks zlib data as Qt's ``qCompress`` writes
  it: a 4-byte uncompressed length, then a zlib stream. Flag 4 marks zstd (Qt 6), which this
  reader refuses with a clear message.

A hostile file cannot make the reader slow or big: every directory node is walked at most
once and the walk visits no more entries than the tree region holds nodes (a file whose levels
each point twice at the next one would otherwise take exponential time), and zlib data is
inflated at most to its declared size (capped at :data:`MAX_ENTRY_BYTES`), so a small entry
cannot expand to gigabytes before it is refused. Every malformation, a name that is not valid
UTF-16 included, is an :class:`RccError`.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hrcam.errors import HrcamError

__all__ = ["MAX_ENTRY_BYTES", "RccArchive", "RccError", "read_rcc"]

_MAGIC = b"qres"
_COMPRESSED, _DIRECTORY, _COMPRESSED_ZSTD = 1, 2, 4
#: The largest file inside a resource file that is inflated (gcompris' photos are < 1 MB).
MAX_ENTRY_BYTES = 256 << 20


class RccError(HrcamError):
    """A ``.rcc`` file that this reader cannot read (truncated, unknown format, zstd)."""


@dataclass(frozen=True)
class _Entry:
    flags: int
    data_offset: int


class RccArchive:
    """The files of one ``.rcc`` resource file, by their path inside it (``"a/b.jpg"``).

    Parameters
    ----------
    data : bytes
        The whole file.
    source : str
        Name used in error messages.

    Raises
    ------
    RccError
        If ``data`` is not a readable resource file.
    """

    def __init__(self, data: bytes, source: str = "<bytes>") -> None:
        self._data, self.source = data, source
        if data[:4] != _MAGIC:
            raise RccError(f"{source}: not a Qt resource file (no 'qres' magic)")
        self.version, tree, self._data_start, self._names = self._ints(4, 4)
        if self.version not in (1, 2, 3):
            raise RccError(f"{source}: unsupported .rcc format {self.version} (1, 2 or 3)")
        self._tree = tree
        self._node_size = 14 if self.version == 1 else 22
        self._files: dict[str, _Entry] = {}
        self._walked: set[int] = set()  # directory nodes already walked
        # In a tree every node is the child of one directory: more visits mean a corrupt file.
        self._visits_left = max(0, (len(data) - tree) // self._node_size)
        self._walk(0, "", depth=0)

    def _ints(self, offset: int, count: int, fmt: str = "I") -> tuple[int, ...]:
        size = struct.calcsize(">" + fmt * count)
        if offset < 0 or offset + size > len(self._data):
            raise RccError(f"{self.source}: truncated (needs bytes {offset}..{offset + size})")
        return struct.unpack_from(">" + fmt * count, self._data, offset)

    def _name(self, offset: int) -> str:
        (length,) = self._ints(self._names + offset, 1, "H")
        start = self._names + offset + 6
        if start + 2 * length > len(self._data):
            raise RccError(f"{self.source}: truncated name at offset {offset}")
        try:
            return self._data[start : start + 2 * length].decode("utf-16-be")
        except UnicodeDecodeError as exc:  # e.g. a lone surrogate
            raise RccError(
                f"{self.source}: the name at offset {offset} is not valid UTF-16 ({exc.reason})"
            ) from None

    def _walk(self, index: int, prefix: str, depth: int) -> None:
        if depth > 64:
            raise RccError(f"{self.source}: directory tree deeper than 64 (corrupt file?)")
        if index in self._walked:
            raise RccError(
                f"{self.source}: directory node {index} is reached twice (a loop or a shared "
                "subtree: corrupt file)"
            )
        self._walked.add(index)
        node = self._tree + index * self._node_size
        (flags,) = self._ints(node + 4, 1, "H")
        if not flags & _DIRECTORY:
            raise RccError(f"{self.source}: tree node {index} is not a directory")
        count, first = self._ints(node + 6, 2)
        self._visits_left -= count
        if self._visits_left < 0:
            raise RccError(
                f"{self.source}: the tree lists more entries than it holds nodes (corrupt file)"
            )
        for child in range(first, first + count):
            at = self._tree + child * self._node_size
            (name_offset,) = self._ints(at, 1)
            (child_flags,) = self._ints(at + 4, 1, "H")
            path = prefix + self._name(name_offset)
            if child_flags & _DIRECTORY:
                self._walk(child, path + "/", depth + 1)
            else:
                (data_offset,) = self._ints(at + 10, 1)
                self._files[path] = _Entry(child_flags, data_offset)

    def names(self) -> list[str]:
        """Paths of every file inside, sorted."""
        return sorted(self._files)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._files

    def read(self, name: str) -> bytes:
        """Return the bytes of the file ``name``, decompressed.

        Raises
        ------
        KeyError
            If there is no such file (the message lists a few that exist).
        RccError
            If its data is truncated, not valid zlib, or zstd-compressed.
        """
        if name not in self._files:
            raise KeyError(f"{self.source} holds no {name!r} (it holds e.g. {self.names()[:3]})")
        entry = self._files[name]
        start = self._data_start + entry.data_offset
        (size,) = self._ints(start, 1)
        payload = self._data[start + 4 : start + 4 + size]
        if len(payload) != size:
            raise RccError(f"{self.source}: data of {name!r} is truncated")
        if entry.flags & _COMPRESSED_ZSTD:
            raise RccError(f"{self.source}: {name!r} is zstd-compressed; only zlib is supported")
        if not entry.flags & _COMPRESSED:
            return payload
        if size < 4:
            raise RccError(f"{self.source}: {name!r} is compressed but holds no length")
        (expected,) = struct.unpack_from(">I", payload, 0)
        if expected > MAX_ENTRY_BYTES:
            raise RccError(
                f"{self.source}: {name!r} declares {expected:,} bytes, over the "
                f"{MAX_ENTRY_BYTES:,} this reader inflates"
            )
        inflater = zlib.decompressobj()
        try:
            # At most one byte past the declared size: enough to tell that it inflates to
            # more, without inflating a bomb.
            out = inflater.decompress(payload[4:], expected + 1)
        except zlib.error as exc:
            raise RccError(f"{self.source}: {name!r} is not valid zlib data ({exc})") from None
        if len(out) > expected:
            raise RccError(
                f"{self.source}: {name!r} inflates to more than the {expected:,} bytes it declares"
            )
        if len(out) != expected:
            raise RccError(f"{self.source}: {name!r} inflates to {len(out)} bytes, not {expected}")
        return out


def read_rcc(path: str | os.PathLike) -> RccArchive:
    """Open the ``.rcc`` file at ``path``.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    RccError
        If it is not a readable resource file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Qt resource file at {path}")
    return RccArchive(path.read_bytes(), source=str(path))
