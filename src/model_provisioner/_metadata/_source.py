"""Where header bytes come from: a two-method protocol, so one parser reads local files and
remote Range requests alike.

A parser never asks for "the whole file"; it asks for (offset, length) windows. Local files
are read with ``os.pread`` (no shared file position, safe across threads); a remote source
supplied by the download code only has to implement the same two members. ``BufferedSource``
turns many small reads into a few large ones, which matters most when every read is an HTTP
request.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable

__all__ = ["DEFAULT_BLOCK_SIZE", "BufferedSource", "ByteSource", "BytesSource", "FileSource"]

DEFAULT_BLOCK_SIZE = 1 << 20
"""Read-ahead for local files: one syscall covers most small headers."""


@runtime_checkable
class ByteSource(Protocol):
    """Random access to a file's bytes: ``size`` and ``read(offset, length)``.

    ``read`` returns fewer than ``length`` bytes only at the end of the file.
    """

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...


class BytesSource:
    """An in-memory source: tests, and bytes already fetched."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.size = len(data)

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        return self._data[offset : offset + length]


class FileSource:
    """A local file read with ``os.pread``; the size is taken once, at open.

    Use as a context manager, or call ``close()``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            self.size = os.fstat(self._fd).st_size
        except BaseException:
            os.close(self._fd)
            raise
        self.bytes_read = 0
        self.reads = 0

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        length = max(0, min(length, self.size - offset))
        chunks: list[bytes] = []
        got = 0
        while got < length:  # pread may return short reads on some filesystems
            chunk = os.pread(self._fd, length - got, offset + got)
            self.reads += 1
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        self.bytes_read += got
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class BufferedSource:
    """Read-ahead over another source: a miss fetches at least ``block_size`` bytes.

    Keeps one window, which is what a front-to-back header parse needs. ``bytes_read`` and
    ``reads`` count what was asked of the inner source (for a remote source: bytes transferred
    and requests made). Remote sources want blocks of 256 KiB..2 MiB: fewer round trips
    without fetching weights.
    """

    def __init__(self, inner: ByteSource, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        if block_size <= 0:
            raise ValueError("block_size must be positive")
        self.inner = inner
        self.block_size = block_size
        self.size = inner.size
        self.bytes_read = 0
        self.reads = 0
        self._start = 0
        self._window = b""

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        rel = offset - self._start
        if rel >= 0 and rel + length <= len(self._window):
            if rel == 0 and length == len(self._window):
                return self._window
            return self._window[rel : rel + length]
        want = min(max(length, self.block_size), self.size - offset)
        data = self.inner.read(offset, want)
        self.reads += 1
        self.bytes_read += len(data)
        self._start, self._window = offset, data
        return data if len(data) <= length else data[:length]
