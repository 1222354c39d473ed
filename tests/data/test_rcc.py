"""The Qt resource (.rcc) reader, on files a tiny writer in this test builds."""

import struct
import zlib

import pytest

from hrcam.data.rcc import RccArchive, RccError, read_rcc


def _qt_hash(name: str) -> int:
    # qt_hash of QResource (the order of siblings); any order reads back the same here.
    h = 0
    for ch in name:
        h = ((h << 4) + ord(ch)) & 0xFFFFFFFF
        h ^= (h & 0xF0000000) >> 23
        h &= 0x0FFFFFFF
    return h


def write_rcc(files: dict[str, bytes], version: int = 3, compress: set[str] = frozenset()) -> bytes:
    """A minimal rcc writer: a tree of directories and files, as Qt's rcc lays them out."""
    tree: dict = {}
    for path, data in files.items():
        node = tree
        *dirs, leaf = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = data
    names, name_off = bytearray(), {}
    data_blob, nodes = bytearray(), []

    def name_offset(name: str) -> int:
        if name not in name_off:
            name_off[name] = len(names)
            units = name.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(units) // 2, _qt_hash(name)) + units)
        return name_off[name]

    # Breadth-first: children of a directory are consecutive, as rcc writes them.
    nodes.append(["", tree, None])
    queue = [0]
    while queue:
        index = queue.pop(0)
        _name, content, _ = nodes[index]
        if isinstance(content, dict):
            first = len(nodes)
            for child in sorted(content, key=_qt_hash):
                nodes.append([child, content[child], None])
            nodes[index][2] = (len(content), first)
            queue.extend(range(first, first + len(content)))
    node_size = 14 if version == 1 else 22
    out_tree = bytearray()
    for name, content, extra in nodes:
        off = name_offset(name) if name else 0
        if isinstance(content, dict):
            out_tree += struct.pack(">IHII", off, 2, *extra)
        else:
            path_compressed = name in compress
            payload = content
            if path_compressed:
                payload = struct.pack(">I", len(content)) + zlib.compress(content)
            out_tree += struct.pack(
                ">IHHHI", off, 1 if path_compressed else 0, 0, 0, len(data_blob)
            )
            data_blob += struct.pack(">I", len(payload)) + payload
        if version >= 2:
            out_tree += struct.pack(">Q", 0)
        assert len(out_tree) % node_size == 0
    header = 24 if version >= 3 else 20  # magic, 4 words, and a flags word from format 3
    tree_at, data_at = header, header + len(out_tree)
    names_at = data_at + len(data_blob)
    head = b"qres" + struct.pack(">IIII", version, tree_at, data_at, names_at)
    if version >= 3:
        head += struct.pack(">I", 0)
    return head + bytes(out_tree) + bytes(data_blob) + bytes(names)


FILES = {
    "a/b/photo.webp": b"\x00webp bytes" * 50,
    "a/readme.txt": "Copyright: Ünïcode author".encode(),
    "top.bin": b"",
    "a/b/ünï.txt": b"unicode name",
}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_reads_back_every_file_compressed_or_not(version, tmp_path):
    path = tmp_path / "x.rcc"
    path.write_bytes(write_rcc(FILES, version, compress={"photo.webp", "readme.txt"}))
    archive = read_rcc(path)
    assert archive.version == version
    assert archive.names() == sorted(FILES)
    for name, data in FILES.items():
        assert archive.read(name) == data
    assert "a/b/photo.webp" in archive and "a/b" not in archive


def test_bad_input_gets_clear_errors(tmp_path):
    with pytest.raises(RccError, match=r"no 'qres' magic"):
        RccArchive(b"PK\x03\x04 not a resource file")
    with pytest.raises(RccError, match=r"unsupported \.rcc format 9"):
        RccArchive(b"qres" + struct.pack(">IIII", 9, 20, 20, 20))
    data = write_rcc(FILES, 3)
    with pytest.raises(RccError, match="truncated"):
        RccArchive(data[:30])
    with pytest.raises(KeyError, match=r"holds no 'missing\.png'"):
        RccArchive(data).read("missing.png")
    with pytest.raises(FileNotFoundError):
        read_rcc(tmp_path / "none.rcc")


def test_corrupt_zlib_is_refused():
    data = bytearray(write_rcc({"f.txt": b"hello world" * 20}, 3, compress={"f.txt"}))
    i = data.index(zlib.compress(b"hello world" * 20)[:6])
    data[i + 2 : i + 8] = b"\xff" * 6
    with pytest.raises(RccError, match=r"not valid zlib|inflates to"):
        RccArchive(bytes(data)).read("f.txt")


# ------------------------------------------------------- hostile files (issue #33 item 6)


def _diamond_chain(levels: int) -> bytes:
    """A format-1 file whose directory levels each point twice at the next level.

    Node i (a directory) lists nodes i+1 and i+2 as its children, so a walk that does not
    remember where it has been visits the deepest nodes about 1.6^levels times.
    """
    name = "x".encode("utf-16-be")
    names = struct.pack(">HI", 1, _qt_hash("x")) + name
    tree = bytearray()
    for _ in range(levels):
        tree += struct.pack(">IHII", 0, 2, 2, len(tree) // 14 + 1)
    for _ in range(2):
        tree += struct.pack(">IHHHI", 0, 0, 0, 0, 0)
    blob = struct.pack(">I", 1) + b"!"
    tree_at, data_at = 20, 20 + len(tree)
    head = b"qres" + struct.pack(">IIII", 1, tree_at, data_at, data_at + len(blob))
    return head + bytes(tree) + blob + names


def test_a_tree_that_points_twice_at_each_level_is_refused_at_once(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "diamond.rcc"
    path.write_bytes(_diamond_chain(40))
    assert len(path.read_bytes()) < 2000
    # In a child process: before the fix, 40 levels ran for hours.
    code = (
        "import sys\nfrom hrcam.data.rcc import RccError, read_rcc\n"
        "try:\n    read_rcc(sys.argv[1])\nexcept RccError as e:\n    print(e)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
            env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("reading a 40-level diamond .rcc did not finish in 60 s")
    assert "reached twice" in done.stdout or "more entries" in done.stdout, done.stderr


def _with_payload(payload: bytes) -> bytes:
    """A format-3 file with one compressed file ``f.bin`` whose stored data is ``payload``."""
    data = write_rcc({"f.bin": b"\0" * 4}, 3, compress={"f.bin"})
    version, tree_at, data_at, names_at = struct.unpack_from(">IIII", data, 4)
    block = struct.pack(">I", len(payload)) + payload  # the only data entry, at offset 0
    head = struct.pack(">IIII", version, tree_at, data_at, data_at + len(block))
    return data[:4] + head + data[20:data_at] + block + data[names_at:]


def test_a_zlib_bomb_is_refused_without_inflating_it():
    import tracemalloc

    bomb = struct.pack(">I", 10) + zlib.compress(b"\0" * (64 << 20), 9)  # 64 MiB of zeros
    archive = RccArchive(_with_payload(bomb))
    tracemalloc.start()
    try:
        with pytest.raises(RccError, match="more than the 10 bytes it declares"):
            archive.read("f.bin")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak  # before: the whole 64 MiB was inflated first


def test_a_declared_size_over_the_cap_is_refused():
    from hrcam.data.rcc import MAX_ENTRY_BYTES

    archive = RccArchive(_with_payload(struct.pack(">I", MAX_ENTRY_BYTES + 1) + b"x"))
    with pytest.raises(RccError, match="declares"):
        archive.read("f.bin")


def test_a_name_with_a_lone_surrogate_is_an_rcc_error():
    data = bytearray(write_rcc({"ab.txt": b"x"}, 2))
    i = data.index("ab.txt".encode("utf-16-be"))
    data[i : i + 2] = b"\xd8\x00"  # a high surrogate followed by 'b', not by a low one
    with pytest.raises(RccError, match="not valid UTF-16"):
        RccArchive(bytes(data))
