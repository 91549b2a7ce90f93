"""Operating-system calls that exist only on some platforms, each with a portable fallback.

Linux has them all; macOS lacks ``fdatasync``, ``posix_fadvise``, ``O_DIRECT``, ``fallocate``
and ``sync_file_range`` (a pull there used to die with AttributeError). Every caller goes
through this module, which looks at ``CAPS`` on each call, so the test suite can run real pulls
with the Linux-only calls switched off (tests/platform_helpers.py).

Fallbacks, and what they cost:
- ``datasync``: ``fdatasync``, else ``fcntl(F_FULLFSYNC)`` (macOS: ``fsync`` there does not
  flush the drive's cache), else ``fsync``.
- ``start_writeback``: ``sync_file_range``, else nothing: the final sync is longer.
- ``write_out_and_drop``: ``sync_file_range`` (else ``datasync``) then
  ``posix_fadvise(DONTNEED)``; without ``posix_fadvise`` nothing (the kernel evicts by itself).
- ``preallocate``: ``fallocate``, else nothing: the partial is already ``ftruncate``d to its
  size, so only the early ENOSPC and contiguous extents are lost.
- ``open_direct``: ``O_DIRECT`` through ``/proc/self/fd``, else no direct descriptor (writes
  and read-back go through the page cache).
- ``read_into``: ``preadv`` into the caller's buffer, else ``pread`` and one copy.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
from dataclasses import dataclass
from typing import Any

# The process's own symbols, libc's among them: ``ctypes.util.find_library("c")`` ran
# ``/sbin/ldconfig -p`` in a child process at every start (~40 ms of every command).
_libc: Any = ctypes.CDLL(None, use_errno=True)
_F_FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)  # macOS
_SYNC_FILE_RANGE_WAIT_BEFORE = 1
_SYNC_FILE_RANGE_WRITE = 2
_SYNC_FILE_RANGE_WAIT_AFTER = 4


@dataclass
class Capabilities:
    """Which optional calls this system has; tests switch them off to run the fallbacks."""

    fdatasync: bool
    full_fsync: bool
    fadvise: bool
    direct_io: bool
    fallocate: bool
    sync_file_range: bool
    preadv: bool

    @classmethod
    def detect(cls) -> Capabilities:
        return cls(
            fdatasync=hasattr(os, "fdatasync"),
            full_fsync=_F_FULLFSYNC is not None,
            fadvise=hasattr(os, "posix_fadvise"),
            direct_io=hasattr(os, "O_DIRECT") and os.path.isdir("/proc/self/fd"),
            fallocate=hasattr(_libc, "fallocate"),
            sync_file_range=hasattr(_libc, "sync_file_range"),
            preadv=hasattr(os, "preadv"),
        )


CAPS = Capabilities.detect()


def datasync(fd: int) -> None:
    """Make the file's data durable (its size too; other metadata may lag)."""
    if CAPS.fdatasync:
        os.fdatasync(fd)
        return
    if CAPS.full_fsync and _F_FULLFSYNC is not None:
        with contextlib.suppress(OSError):  # not every file system supports it
            fcntl.fcntl(fd, _F_FULLFSYNC)
            return
    os.fsync(fd)


def _sync_range(fd: int, offset: int, length: int, flags: int) -> bool:
    if not CAPS.sync_file_range:
        return False
    func = _libc.sync_file_range
    return bool(func(fd, ctypes.c_int64(offset), ctypes.c_int64(length), flags) == 0)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing [offset, offset+length) to disk now, without waiting (if supported)."""
    _sync_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def write_out_and_drop(fd: int, offset: int, length: int) -> None:
    """Wait until [offset, offset+length) is on disk, then drop it from the page cache.

    Done with those pages, the next writes reuse warm pages instead of faulting fresh memory
    in (costly on VMs that return free memory to the host). Without ``posix_fadvise`` there is
    nothing to drop, and nothing is waited for: the final sync writes it out.
    """
    if not CAPS.fadvise:
        return
    flags = _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WRITE | _SYNC_FILE_RANGE_WAIT_AFTER
    if not _sync_range(fd, offset, length, flags):
        datasync(fd)
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def preallocate(fd: int, size: int) -> None:
    """Reserve the blocks up front where ``fallocate(2)`` exists (ENOSPC now, contiguous
    extents); glibc's posix_fallocate would write zeros where it is unsupported."""
    if not CAPS.fallocate or size == 0:
        return
    if _libc.fallocate(fd, 0, ctypes.c_int64(0), ctypes.c_int64(size)) != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(err, os.strerror(err))


def open_direct(fd: int) -> int:
    """An ``O_DIRECT`` descriptor on the inode behind ``fd``, or -1 where unsupported."""
    if not CAPS.direct_io:
        return -1
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_DIRECT)
    except OSError:
        return -1


def read_into(fd: int, view: memoryview, offset: int) -> int:
    """Read up to ``len(view)`` bytes at ``offset`` into ``view``; returns the count."""
    if CAPS.preadv:
        return os.preadv(fd, [view], offset)
    data = os.pread(fd, len(view), offset)
    view[: len(data)] = data
    return len(data)
