"""Filesystem steps that must be durable or portable, kept in one place.

Every step the store's crash safety rests on (fsync, fdatasync, rename, link, mkdir, journal
write) goes through ``durability``, one small object: a test sets its ``observer`` to record
the order of the steps or to kill the process right after one of them
(tests/test_crash_points.py). Unset, a step costs one attribute check.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ._errors import DiskSpaceError, ProvisionerError, StoreNotWritable
from ._platform import datasync

StepObserver = Callable[[str, Path, Path | None], None]


class Durability:
    """The durability steps; ``observer(op, path, source)`` runs after each one succeeded."""

    def __init__(self) -> None:
        self.observer: StepObserver | None = None

    def _step(self, op: str, path: Path, source: Path | None = None) -> None:
        if self.observer is not None:
            self.observer(op, path, source)

    def fsync(self, fd: int, path: Path) -> None:
        os.fsync(fd)
        self._step("fsync", path)

    def fdatasync(self, fd: int, path: Path) -> None:
        datasync(fd)
        self._step("fsync", path)

    def fsync_dir(self, path: Path) -> None:
        """Make a rename, link or new entry in ``path`` survive a crash."""
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._step("fsync_dir", path)

    def replace(self, source: Path, dest: Path) -> None:
        os.replace(source, dest)
        self._step("rename", dest, source)

    def link(self, source: Path, dest: Path) -> None:
        os.link(source, dest)
        self._step("link", dest, source)

    def mkdir(self, path: Path) -> None:
        os.mkdir(path)
        self._step("mkdir", path)

    def write(self, fd: int, data: bytes, path: Path) -> None:
        """One ``write(2)`` (a journal line): a kill loses it whole or not at all."""
        os.write(fd, data)
        self._step("write", path)


durability = Durability()


def fsync_dir(path: Path) -> None:
    """Make a rename or link in ``path`` survive a crash."""
    durability.fsync_dir(path)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` whose new folders survive a crash: each parent is fsynced after its child
    appears (else a power cut can drop the folder a renamed blob or link lives in)."""
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            durability.mkdir(folder)
            durability.fsync_dir(folder.parent)


def atomic_write(path: Path, data: bytes) -> None:
    """Write, fsync, rename: readers see the old file or the new one, never a torn one."""
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            durability.fsync(f.fileno(), Path(tmp))
        durability.replace(Path(tmp), path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise_if_no_space(exc, path)
        raise
    fsync_dir(path.parent)


def read_user_file(path: Path, limit: int = 1 << 20) -> bytes:
    """A small file the user edits (aliases, config): a FIFO, a device or a folder in its place
    is refused instead of blocking or reading forever; a symlink is followed (dotfiles)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit >> 10} KiB")
    return data


def copy_durably(source: Path, tmp: Path) -> None:
    """The fallback of ``link_or_copy`` for the store: a second copy, on disk before use."""
    shutil.copyfile(source, tmp)
    with open(tmp, "rb") as f:
        durability.fsync(f.fileno(), tmp)


def link_or_copy(
    source: Path, dest: Path, fallback: Callable[[Path, Path], None] = copy_durably
) -> bool:
    """Hard-link ``source`` at ``dest`` (replacing it), durably; where links cannot cross
    devices, ``fallback(source, tmp)`` (a copy; the export view uses a symlink) stands in.
    False when the fallback was used."""
    make_dirs(dest.parent)
    if _same_inode(source, dest):
        return True
    linked = True
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.link")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        durability.link(source, tmp)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        fallback(source, tmp)
        linked = False
    durability.replace(tmp, dest)
    fsync_dir(dest.parent)
    return linked


def _same_inode(source: Path, dest: Path) -> bool:
    """``dest`` itself (not a symlink's target) is ``source``'s inode."""
    try:
        a, b = os.stat(source), os.lstat(dest)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def allocated_bytes(path: Path) -> int:
    """Bytes the file really occupies on disk (sparse files and holes count as they are)."""
    return allocated(path.stat())


def allocated(st: os.stat_result) -> int:
    """``allocated_bytes`` of a stat already taken (st_blocks counts 512-byte units)."""
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


@contextlib.contextmanager
def store_errors(home: Path) -> Iterator[None]:
    """What the environment refuses (a read-only or full home, a failing file system) said in
    one line. An OSError that gets here came from the disk: server and network errors are
    translated where they happen (hub, transfer)."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or home
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StoreNotWritable(
                f"cannot write to the store at {home}: {exc.strerror} ({where})",
                hint="use a writable --home, or mount it read-write",
            ) from exc
        raise_if_no_space(exc, Path(exc.filename or home))
        raise ProvisionerError(f"{exc.strerror or exc}: {where}") from exc


def prune_empty_dirs(start: Path, stop: Path) -> None:
    """Remove ``start`` and its parents while they are empty, never ``stop`` or above."""
    current = start
    while current != stop and stop in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent
