"""Atomic writes: the target holds the old content or the new, never a partial file."""

from __future__ import annotations

import pytest

from hrcam.atomic import atomic_write


def test_writes_text_and_bytes_and_creates_the_folder(tmp_path):
    target = tmp_path / "deep" / "metrics.csv"
    assert atomic_write(target, lambda h: h.write("a,b\r\n1,2\r\n"), text=True) == target
    assert target.read_bytes() == b"a,b\r\n1,2\r\n"  # newline="" keeps the writer's endings
    atomic_write(target, lambda h: h.write(b"\x00\x01"))
    assert target.read_bytes() == b"\x00\x01"


def test_failure_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"old")

    def crash(handle):
        handle.write(b"half")
        raise KeyboardInterrupt  # an interrupt, not only an Exception, must clean up

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
