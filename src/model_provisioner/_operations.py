"""What can be done to an installed model: inspect, verify, delete, and measure the store."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from ._catalog import Catalog, Entry
from ._errors import IntegrityError
from ._models import FileCheck, ModelFile, VerifyReport
from ._store import Store, safe_relpath

_READ = 1 << 20


def verify_entry(store: Store, entry: Entry) -> VerifyReport:
    """Size, full sha256 and structure of every file; damage is reported, never deleted."""
    info = entry.info
    folder = store.model_dir(info.provider, info.repo, info.commit)
    checks = [_check_file(folder / safe_relpath(f.path), f) for f in info.files]
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


def _check_file(path: Path, expected: ModelFile) -> FileCheck:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return FileCheck(expected.path, False, "missing")
    if size != expected.size:
        return FileCheck(expected.path, False, f"size {size}, expected {expected.size}")
    problem = structure_problem(path)
    if problem:
        return FileCheck(expected.path, False, problem)
    if _sha256(path) != expected.sha256:
        return FileCheck(expected.path, False, "sha256 mismatch")
    return FileCheck(expected.path, True)


def structure_problem(path: Path) -> str | None:
    """A GGUF file must start with its magic and a known version."""
    if not path.name.endswith(".gguf"):
        return None
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[:4] != b"GGUF":
        return "not a GGUF file (bad magic)"
    version = int.from_bytes(head[4:], "little")
    if version not in (2, 3) and int.from_bytes(head[4:], "big") not in (2, 3):
        return f"unsupported GGUF version {version}"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_READ):
            digest.update(chunk)
    return digest.hexdigest()


def delete_entry(store: Store, catalog: Catalog, entry: Entry) -> None:
    """Unlist first, then free what no other entry uses: a crash never lists a torn model."""
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
