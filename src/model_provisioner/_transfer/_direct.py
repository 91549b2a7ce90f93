"""Positional I/O that bypasses the page cache where it can (``O_DIRECT``).

Writing through the page cache costs a fresh page per 4 KiB; on virtual machines whose free
memory is handed back to the host, touching fresh pages is the most expensive thing a download
does (several CPU seconds per GiB, measured in benchmarks/pull.py). Aligned writes and reads go
through a second, ``O_DIRECT`` descriptor on the same inode, straight between our reused buffers
and the disk; anything unaligned (the file's tail, a piece cut short by a reset) takes the
ordinary descriptor. The kernel keeps the two coherent.
"""

from __future__ import annotations

import errno
import mmap
import os
from typing import Protocol

from .._platform import read_into

ALIGN = 4096


def aligned_buffer(size: int) -> mmap.mmap:
    """A page-aligned buffer (anonymous mapping), as ``O_DIRECT`` requires."""
    size = max(ALIGN, size - size % ALIGN)
    return mmap.mmap(-1, size)


class DirectFile(Protocol):
    """One open file: its descriptors, and whether its file system refused direct I/O.

    Some file systems (FUSE, NFS, overlay setups) open ``O_DIRECT`` but refuse the I/O with
    EINVAL. The first refusal sets ``direct_refused`` and every later call goes straight to
    the cache, instead of paying a failed syscall per buffer. A flag rather than closing
    ``dfd``: other threads may be inside a call on it, and a closed number can be reused. The
    flag is only ever set to True (one store): a thread that has not seen it yet retries at
    most once more.
    """

    fd: int
    dfd: int
    direct_refused: bool


def write_at(f: DirectFile, data: memoryview, offset: int, *, direct: bool = True) -> None:
    """Write all of ``data`` at ``offset``: directly when aligned, else through the cache.

    ``data`` must start at an aligned address when ``dfd`` may be used (a buffer from
    ``aligned_buffer``, sliced from its start); ``direct=False`` when it may not.
    """
    fd, dfd = f.fd, f.dfd
    aligned = offset % ALIGN == 0 and len(data) % ALIGN == 0
    direct = direct and dfd >= 0 and not f.direct_refused and aligned
    target = dfd if direct else fd
    while data:
        try:
            n = os.pwrite(target, data, offset)
        except OSError as exc:
            # Some file systems open O_DIRECT but refuse the write itself: use the cache.
            if target != dfd or exc.errno != errno.EINVAL:
                raise
            f.direct_refused = True
            target = fd
            continue
        data, offset = data[n:], offset + n
        if direct and n % ALIGN:
            target = fd  # a short direct write left an unaligned rest


def read_at(f: DirectFile, view: memoryview, offset: int, want: int) -> int:
    """Read up to ``want`` bytes at ``offset`` into the start of ``view``; returns the count."""
    fd, dfd = f.fd, f.dfd
    if dfd >= 0 and not f.direct_refused and offset % ALIGN == 0:
        length = min(len(view), -(-want // ALIGN) * ALIGN)
        try:
            return min(read_into(dfd, view[:length], offset), want)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            f.direct_refused = True
    return read_into(fd, view[:want], offset)
