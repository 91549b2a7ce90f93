"""What can be done to an installed model: inspect, verify, delete, and measure the store."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from ._catalog import Catalog, Entry
from ._errors import IntegrityError
from ._fsutil import prune_empty_dirs
from ._metadata import FileSource, split_problems, structural_problems
from ._models import FileCheck, ModelFile, ModelInfo, VerifyReport
from ._store import Store, safe_relpath

_READ = 1 << 20


def verify_entry(store: Store, entry: Entry) -> VerifyReport:
    """Size, full sha256 and structure of every file; damage is reported, never deleted."""
    info = entry.info
    folder = store.model_dir(info.provider, info.repo, info.commit)
    checks = [_check_file(folder / safe_relpath(f.path), f) for f in info.files]
    checks += [FileCheck(info.reference, False, p) for p in _split_problems(folder, info)]
    report = VerifyReport(info.reference, checks, sum(f.size for f in info.files))
    if not report.ok:
        raise IntegrityError(
            f"{info.reference} is damaged: " + "; ".join(report.problems),
            hint=f"provisioner pull {info.reference} fetches it again",
            problems=report.problems,
        )
    stamped = replace(info, verified_at=datetime.now(UTC).isoformat(timespec="seconds"))
    store.save_manifest(entry.manifest, stamped)
    return report


def _split_problems(folder: Path, info: ModelInfo) -> list[str]:
    """Split parts and the shards an index names must all be there."""
    paths = [f.path for f in info.files]
    indexes = [p for p in paths if p.endswith(".safetensors.index.json")]
    sources = {p: FileSource(folder / p) for p in indexes if (folder / p).is_file()}
    try:
        return split_problems(paths, sources)
    finally:
        for source in sources.values():
            source.close()


def _check_file(path: Path, expected: ModelFile) -> FileCheck:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return FileCheck(expected.path, False, "missing")
    if size != expected.size:
        return FileCheck(expected.path, False, f"size {size}, expected {expected.size}")
    with FileSource(path) as source:
        problems = structural_problems(expected.path, source)
    if problems:
        return FileCheck(expected.path, False, "; ".join(problems))
    if _sha256(path) != expected.sha256:
        return FileCheck(expected.path, False, "sha256 mismatch")
    return FileCheck(expected.path, True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_READ):
            digest.update(chunk)
    return digest.hexdigest()


def delete_entry(store: Store, catalog: Catalog, entry: Entry) -> None:
    """Unlist first, then free what no other entry uses: a crash never lists a torn model.
    The caller holds the commit lock."""
    info = entry.info
    store.remove_manifest(entry.manifest)
    store.release(info, catalog.used_files(info.provider, info.repo, besides=entry.manifest))


def disk_usage(store: Store) -> int:
    """Allocated bytes of everything in the store, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top in (store.blobs, store.models, store.partial):
        for root, _dirs, names in os.walk(top):
            for name in names:
                st = os.lstat(os.path.join(root, name))
                key = (st.st_dev, st.st_ino)
                if key not in seen:
                    seen.add(key)
                    total += st.st_blocks * 512
    return total


def path_size(path: Path) -> int:
    """Apparent size of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def collect_garbage(
    store: Store, catalog: Catalog, older_than: float, *, dry_run: bool = False
) -> list[Path]:
    """Remove what a crash between commit steps leaves: model-folder links no manifest names,
    then blobs nothing links and no live pull is about to link. The caller holds the commit
    lock, so no commit is half-done while this runs."""
    cutoff = time.time() - older_than
    keep = store.reservations.held().blobs
    named = {
        store.model_dir(info.provider, info.repo, info.commit) / f.path
        for info in catalog.all()
        for f in info.files
    }
    orphans = [
        path
        for path in sorted(store.models.rglob("*"))
        if path.is_file() and path not in named and path.stat().st_ctime < cutoff
    ]
    dropped = Counter(_inode(path.stat()) for path in orphans)
    blobs = [
        blob
        for blob in store.iter_blobs()
        if blob.name not in keep
        and (st := blob.stat()).st_nlink - dropped[_inode(st)] <= 1
        and st.st_ctime < cutoff
    ]
    if not dry_run:
        for path in orphans + blobs:
            path.unlink(missing_ok=True)
            prune_empty_dirs(path.parent, store.home)
    return orphans + blobs


def _inode(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino
