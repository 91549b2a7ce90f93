"""File-system helpers on a real disk: atomic writes, links with their fallback, allocated
bytes, errors said in one line, empty folders pruned."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from model_provisioner._errors import DiskSpaceError, ProvisionerError, StoreNotWritable
from model_provisioner._fsutil import (
    allocated_bytes,
    atomic_write,
    free_bytes,
    link_or_copy,
    prune_empty_dirs,
    store_errors,
)


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "file.json"
    atomic_write(target, b"first")
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.json"]


def test_link_or_copy_links_and_is_idempotent(tmp_path: Path) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"x" * 10)
    dest = tmp_path / "models" / "a" / "file"
    assert link_or_copy(source, dest) is True
    assert dest.stat().st_ino == source.stat().st_ino
    assert link_or_copy(source, dest) is True
    other = tmp_path / "other"
    other.write_bytes(b"old")
    assert link_or_copy(source, other) is True  # replaces what stood there
    assert other.read_bytes() == b"x" * 10
    assert not [p for p in tmp_path.rglob(".*.link")]


def test_link_or_copy_uses_its_fallback_where_links_are_refused(tmp_path: Path) -> None:
    """A hard link to a directory is refused by every kernel (EPERM): the same path a link
    across devices takes."""
    source = tmp_path / "folder"
    source.mkdir()
    (source / "inside").write_bytes(b"y")
    used: list[tuple[Path, Path]] = []

    def fallback(src: Path, tmp: Path) -> None:
        used.append((src, tmp))
        os.symlink(src, tmp)

    dest = tmp_path / "view" / "folder"
    assert link_or_copy(source, dest, fallback=fallback) is False
    assert dest.is_symlink() and (dest / "inside").read_bytes() == b"y"
    assert used and used[0][0] == source and used[0][1].parent == dest.parent


def test_allocated_bytes_counts_blocks_not_the_apparent_size(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as f:
        f.truncate(64 << 20)
    assert sparse.stat().st_size == 64 << 20
    assert allocated_bytes(sparse) < 1 << 20
    full = tmp_path / "full"
    full.write_bytes(b"z" * 8192)
    assert allocated_bytes(full) >= 8192
    assert free_bytes(tmp_path / "not" / "yet" / "there") > 0


@pytest.mark.parametrize(
    ("err", "kind", "words"),
    [
        (errno.EROFS, StoreNotWritable, "cannot write to the store"),
        (errno.EACCES, StoreNotWritable, "cannot write to the store"),
        (errno.ENOSPC, DiskSpaceError, "disk full"),
        (errno.EIO, ProvisionerError, "Input/output error"),
    ],
)
def test_store_errors_says_a_disk_failure_in_one_line(
    tmp_path: Path, err: int, kind: type[ProvisionerError], words: str
) -> None:
    with pytest.raises(kind, match=words) as caught, store_errors(tmp_path):
        raise OSError(err, os.strerror(err), str(tmp_path / "blob"))
    assert "\n" not in str(caught.value)


def test_store_errors_on_a_real_read_only_folder(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes through permissions")
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreNotWritable), store_errors(tmp_path):
            (tmp_path / "x").write_bytes(b"")
    finally:
        tmp_path.chmod(0o700)


def test_prune_empty_dirs_stops_at_a_file_and_at_its_stop(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (tmp_path / "a" / "keep").write_bytes(b"")
    prune_empty_dirs(deep, tmp_path)
    assert not (tmp_path / "a" / "b").exists()
    assert (tmp_path / "a").is_dir()
    (tmp_path / "a" / "keep").unlink()
    prune_empty_dirs(tmp_path / "a", tmp_path)
    assert not (tmp_path / "a").exists() and tmp_path.is_dir()
