"""Put a foreign file's bytes under a store name without a second copy where possible.

Order: a hard link (same inode, no bytes written) when the source is ours and writable by no
one else, then a reflink (``ioctl(FICLONE)``: a new
inode sharing the extents, on btrfs/XFS/bcachefs), then a plain copy. The source is opened once
with ``O_NOFOLLOW``; whatever we keep is proven to be the inode we opened, so a file swapped
under us between the open and the link is copied from the open descriptor instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .._fsutil import raise_if_no_space

# linux/fs.h: _IOW(0x94, 9, int). Other platforms have no FICLONE; the copy path follows.
_FICLONE = 0x40049409
_COPY_CHUNK = 8 << 20
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES)


class Placement(StrEnum):
    LINK = "link"
    REFLINK = "reflink"
    COPY = "copy"


class NotAFile(Exception):
    """The source is a symlink, a folder, a device or a pipe: never read or linked."""


@dataclass(frozen=True)
class Source:
    """An opened source file: its descriptor keeps the inode we checked."""

    path: Path
    fd: int
    st: os.stat_result

    @property
    def size(self) -> int:
        return self.st.st_size

    def close(self) -> None:
        os.close(self.fd)


def open_source(path: Path) -> Source:
    """Open without following a final symlink and without blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotAFile(f"{path} is a symbolic link") from exc
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotAFile(f"{path} is not a regular file")
    return Source(path, fd, st)


def linkable(st: os.stat_result) -> bool:
    """Share an inode only with a file that no one else can rewrite: ours (or root's) and not
    writable by group or others. A blob linked to anything else could change under us."""
    return st.st_uid in (os.geteuid(), 0) and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def place(source: Source, dest: Path) -> Placement:
    """Make ``dest`` (a fresh name) hold the source's bytes; the source is never written."""
    if linkable(source.st) and _link_same_inode(source, dest):
        return Placement.LINK
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        if _reflink(source.fd, fd):
            return Placement.REFLINK
        _copy(source.fd, fd, dest)
        os.fsync(fd)
        return Placement.COPY
    except BaseException:
        with contextlib.suppress(OSError):
            dest.unlink()
        raise
    finally:
        os.close(fd)


def _link_same_inode(source: Source, dest: Path) -> bool:
    try:
        os.link(source.path, dest, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in _NO_LINK:
            return False
        raise
    st = os.lstat(dest)
    if (st.st_dev, st.st_ino) == (source.st.st_dev, source.st.st_ino):
        return True
    dest.unlink()  # the path now names another file than the one we opened: copy from the fd
    return False


def _reflink(src_fd: int, dst_fd: int) -> bool:
    try:
        fcntl.ioctl(dst_fd, _FICLONE, src_fd)
    except OSError:
        return False
    return True


def _copy(src_fd: int, dst_fd: int, dest: Path) -> None:
    offset = 0
    try:
        while True:
            chunk = os.pread(src_fd, _COPY_CHUNK, offset)
            if not chunk:
                return
            view = memoryview(chunk)
            while view:
                written = os.write(dst_fd, view)
                view = view[written:]
            offset += len(chunk)
    except OSError as exc:
        raise_if_no_space(exc, dest)
        raise
