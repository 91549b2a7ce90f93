"""Filesystem steps that must be durable or portable, kept in one place."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from ._errors import DiskSpaceError


def fsync_dir(path: Path) -> None:
    """Make a rename or link in ``path`` survive a crash."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write, fsync, rename: readers see the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise_if_no_space(exc, path)
        raise
    fsync_dir(path.parent)


def link_or_copy(source: Path, dest: Path) -> None:
    """Hard-link ``source`` at ``dest`` (replacing it); copy where links cannot cross devices."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and os.path.samefile(source, dest):
        return
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.link")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(source, tmp)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, tmp)
    os.replace(tmp, dest)


def allocated_bytes(path: Path) -> int:
    """Bytes the file really occupies on disk (sparse files and holes count as they are)."""
    st = path.stat()
    return st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size


def free_bytes(path: Path) -> int:
    probe = path
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


def raise_if_no_space(exc: OSError, path: Path) -> None:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskSpaceError(
            f"disk full while writing {path.name}", hint="free space and run the same pull again"
        ) from exc


def prune_empty_dirs(start: Path, stop: Path) -> None:
    """Remove ``start`` and its parents while they are empty, never ``stop`` or above."""
    current = start
    while current != stop and stop in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent
