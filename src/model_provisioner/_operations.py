"""What can be done to an installed model: inspect, verify, delete, and measure the store."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from ._catalog import Catalog, Entry
from ._digests import file_sha256
from ._errors import IntegrityError, ProvisionerError
from ._fsutil import allocated, prune_empty_dirs
from ._models import FileCheck, ModelFile, ModelInfo, VerifyReport
from ._references import LOCAL_PROVIDERS, parse_reference
from ._store import Store
from ._usage import forget


def verify_entry(store: Store, entry: Entry) -> VerifyReport:
    """Size, full sha256 and structure of every file; damaged blobs are quarantined, so no
    pull links them again and ``path`` refuses the entries that share them. Needs no write
    access: the quarantine and the verified stamp are best effort."""
    report = inspect_entry(store, entry)
    info = entry.info
    if not report.ok:
        raise IntegrityError(
            f"{info.reference} is damaged: " + "; ".join(report.problems),
            hint=_repair_hint(
                info, f"provisioner verify --repair {info.reference} fetches it again"
            ),
            problems=report.problems,
        )
    with contextlib.suppress(OSError, ProvisionerError), store.commit_lock():
        # A pull may have moved the entry meanwhile: stamp only the manifest that was verified.
        if store.read_manifest(entry.manifest) == info:
            stamped = replace(info, verified_at=datetime.now(UTC).isoformat(timespec="seconds"))
            store.save_manifest(entry.manifest, stamped)
    return report


def inspect_entry(store: Store, entry: Entry) -> VerifyReport:
    """The checks of ``verify_entry``, with damaged blobs moved aside, nothing raised."""
    info = entry.info
    folder = store.model_dir(info.provider, info.repo, info.commit)
    checks = []
    condemned: dict[str, tuple[int, int]] = {}
    for f in info.files:
        check = _check_file(store, store.model_file(info, f), f)
        if check.condemned is not None:
            condemned[f.sha256] = check.condemned
        checks.append(check.result)
    quarantine(store, condemned)
    checks += [FileCheck(info.reference, False, p) for p in _split_problems(folder, info)]
    return VerifyReport(info.reference, checks, sum(f.size for f in info.files))


def quarantine(store: Store, condemned: dict[str, tuple[int, int]]) -> None:
    """Move damaged blobs aside under the commit lock, each only if it is still the inode that
    was found damaged (a repair may have put good bytes there meanwhile). On a read-only store
    this does nothing: the damage is still reported."""
    if not condemned:
        return
    with contextlib.suppress(OSError), store.commit_lock():
        for sha256, inode in condemned.items():
            store.quarantine_blob(sha256, inode)


def usable_entry(store: Store, entry: Entry) -> ModelInfo:
    """The entry, if every file is its verified blob by stat; else IntegrityError with the
    repair command. A blob that stat alone proves damaged (not a regular file, wrong size) is
    quarantined on the way."""
    info = entry.info
    problems = store.entry_problems(info)
    if not problems:
        return info
    condemned = {
        f.sha256: _inode(st)
        for f in info.files
        if (st := _lstat(store.blob_path(f.sha256))) is not None
        and (not stat.S_ISREG(st.st_mode) or st.st_size != f.size)
    }
    quarantine(store, condemned)
    raise IntegrityError(
        f"{info.reference} is damaged: " + "; ".join(problems),
        hint=_repair_hint(info, f"provisioner pull {info.reference} repairs it"),
        problems=problems,
    )


def _repair_hint(info: ModelInfo, command: str) -> str:
    """Imported entries have nothing to fetch from: they are imported again."""
    return "import it again from its source" if info.provider in LOCAL_PROVIDERS else command


def sharing_entries(catalog: Catalog, entry: Entry, report: VerifyReport) -> list[Entry]:
    """Every entry that links a damaged file's blob, or the same model-folder file."""
    info = entry.info
    bad = {c.path for c in report.checks if not c.ok}
    blobs = {f.sha256 for f in info.files if f.path in bad}
    links = {(info.repo.casefold(), info.commit, f.path) for f in info.files if f.path in bad}
    found = [entry]
    for path, other in catalog.store.all_manifests():
        if path == entry.manifest:
            continue
        if any(
            f.sha256 in blobs or (other.repo.casefold(), other.commit, f.path) in links
            for f in other.files
        ):
            found.append(Entry(path, other, parse_reference(other.reference)))
    return found


def _split_problems(folder: Path, info: ModelInfo) -> list[str]:
    """Split parts and the shards an index names must all be there."""
    from ._metadata import FileSource, split_problems  # the header parsers: verify only

    paths = [f.path for f in info.files]
    indexes = [p for p in paths if p.endswith(".safetensors.index.json")]
    sources = {p: FileSource(folder / p) for p in indexes if (folder / p).is_file()}
    try:
        return split_problems(paths, sources)
    finally:
        for source in sources.values():
            source.close()


@dataclass(frozen=True)
class _Checked:
    result: FileCheck
    condemned: tuple[int, int] | None = None  # the blob's inode, if its bytes are damaged


def _check_file(store: Store, path: Path, expected: ModelFile) -> _Checked:
    """The link a worker loads must be the blob's inode, a regular file, with the right bytes.

    Bad bytes in the blob's own inode, or a blob name that is not a regular file, condemn the
    blob; a link that is missing or another file leaves the blob alone (repair relinks it).
    """
    from ._metadata import FileSource, structural_problems  # the header parsers: verify only

    named = _lstat(store.blob_path(expected.sha256))
    if named is not None and not stat.S_ISREG(named.st_mode):
        return _Checked(
            FileCheck(expected.path, False, "blob is not a regular file"), _inode(named)
        )
    link = _lstat(path)
    own = _inode(named) if named and link and _inode(link) == _inode(named) else None
    cheap = store.file_problem(path, expected)
    if cheap is not None:
        return _Checked(FileCheck(expected.path, False, cheap), own)
    with FileSource(path) as source:
        problems = structural_problems(expected.path, source)
    if problems:
        return _Checked(FileCheck(expected.path, False, "; ".join(problems)), own)
    if file_sha256(path) != expected.sha256:
        return _Checked(FileCheck(expected.path, False, "sha256 mismatch"), own)
    return _Checked(FileCheck(expected.path, True))


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def delete_entry(store: Store, catalog: Catalog, entry: Entry) -> None:
    """Unlist first, then free what no other entry uses: a crash never lists a torn model.
    The caller holds the commit lock."""
    info = entry.info
    store.remove_manifest(entry.manifest)
    store.release(info, catalog.used_files(info.provider, info.repo, besides=entry.manifest))
    forget(store, entry.manifest)


def disk_usage(store: Store) -> int:
    """Allocated bytes of everything in the store, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top in (store.blobs, store.models, store.partial, store.quarantine):
        for root, _dirs, names in os.walk(top):
            for name in names:
                st = _lstat(Path(root, name))  # None: removed by a command running meanwhile
                if st is not None and _inode(st) not in seen:
                    seen.add(_inode(st))
                    total += allocated(st)
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
    then blobs nothing links and no live pull is about to link, then quarantined content.
    The caller holds the commit lock, so no commit is half-done while this runs. A manifest
    that does not read back keeps its repo's links and every blob its bytes name (all blobs,
    if they cannot be read at all)."""
    cutoff = time.time() - older_than
    good, damaged = store.read_all()
    named = {store.model_file(info, f) for _, info in good for f in info.files}
    kept = {(d.provider, d.org.casefold(), d.name.casefold()) for d in damaged}
    orphans = [
        path
        for path in sorted(store.models.rglob("*"))
        if (st := _lstat(path)) is not None
        and not stat.S_ISDIR(st.st_mode)
        and path not in named
        and _repo_key(store, path) not in kept
        and st.st_ctime < cutoff
    ]
    dropped = Counter(_inode(st) for path in orphans if (st := _lstat(path)) is not None)
    keep_blobs = set(store.reservations.held().blobs)
    for d in damaged:
        keep_blobs |= d.hashes if d.hashes is not None else {b.name for b in store.iter_blobs()}
    blobs = [
        blob
        for blob in store.iter_blobs()
        if blob.name not in keep_blobs
        and (st := _lstat(blob)) is not None
        and stat.S_ISREG(st.st_mode)
        and st.st_nlink - dropped[_inode(st)] <= 1
        and st.st_ctime < cutoff
    ]
    aside = [p for p in _children(store.quarantine) if (st := _lstat(p)) and st.st_ctime < cutoff]
    if not dry_run:
        for path in orphans + blobs:
            path.unlink(missing_ok=True)
            prune_empty_dirs(path.parent, store.home)
        for path in aside:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return orphans + blobs + aside


def _repo_key(store: Store, path: Path) -> tuple[str, str, str]:
    parts = path.relative_to(store.models).parts
    return (parts[0], parts[1].casefold(), parts[2].casefold()) if len(parts) > 3 else ("", "", "")


def _children(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _inode(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino
