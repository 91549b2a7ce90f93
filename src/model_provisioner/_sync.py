"""``sync``: make this store hold exactly what a lockfile names.

Each locked model is checked against the catalog: the same entry at the same commit with the
same files, all present, is left alone. Otherwise it is installed from the lockfile itself: the
plan is its commit and its files, and every byte fetched is verified against the lockfile's
sha256 (a server that sends anything else fails that model with an IntegrityError). Files
already in the store (any entry's blobs) are linked, not fetched, so with everything present
no network call is made at all (``HF_HUB_OFFLINE=1`` works). One model failing does not stop
the others; the report says what happened to each. Nothing is removed unless ``prune``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._catalog import Catalog, Entry
from ._errors import DamagedManifest, OfflineError, ProvisionerError
from ._hub import RemoteFile, RepoSnapshot
from ._lockfile import LockedModel, Lockfile
from ._progress import ProgressCallback
from ._references import ModelReference
from ._selection import select_files
from ._store import Store
from ._usage import is_pinned

if TYPE_CHECKING:
    from ._download import Downloader, PullPlan

PRESENT = "present"
INSTALLED = "installed"
FAILED = "failed"
PRUNED = "pruned"
KEPT_PINNED = "kept (pinned)"
KEPT_BUSY = "kept (a pull is running)"


@dataclass(frozen=True)
class LockedFile(RemoteFile):
    """A file as the lockfile names it: always a sha256 to verify, and its own LFS flag."""

    is_lfs: bool = True

    @property
    def lfs(self) -> bool:
        return self.is_lfs


@dataclass(frozen=True)
class SyncOutcome:
    reference: str
    status: str
    error: ProvisionerError | None = None
    bytes_fetched: int = 0

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"reference": self.reference, "status": self.status}
        if self.error is not None:
            data["error"] = self.error.code
            data["message"] = str(self.error)
            data["exit_code"] = self.error.exit_code
        if self.bytes_fetched:
            data["bytes_fetched"] = self.bytes_fetched
        return data


@dataclass
class SyncReport:
    outcomes: list[SyncOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[SyncOutcome]:
        return [o for o in self.outcomes if o.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failures


def sync(
    catalog: Catalog,
    downloader: Downloader,
    lock: Lockfile,
    *,
    prune: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> SyncReport:
    report = SyncReport()
    cancel = cancel or threading.Event()
    for model in lock.models:
        try:
            report.outcomes.append(_sync_one(catalog, downloader, model, progress, cancel))
        except ProvisionerError as exc:
            report.outcomes.append(SyncOutcome(model.reference, FAILED, exc))
    if prune:
        report.outcomes += _prune(catalog.store, catalog, lock)
    return report


def _sync_one(
    catalog: Catalog,
    downloader: Downloader,
    model: LockedModel,
    progress: ProgressCallback | None,
    cancel: threading.Event,
) -> SyncOutcome:
    ref = model.ref
    store = catalog.store
    if _holds_exactly(store, _installed(catalog, ref), ref, model):
        return SyncOutcome(model.reference, PRESENT)
    plan = locked_plan(store, ref, model)
    if plan.missing and downloader.settings.offline:
        raise OfflineError(
            f"{model.reference}: {len(plan.missing)} files are missing and HF_HUB_OFFLINE is set"
        )
    downloader.install_plan(plan, progress, cancel)
    return SyncOutcome(model.reference, INSTALLED, bytes_fetched=plan.bytes_to_fetch)


def _holds_exactly(
    store: Store, entry: Entry | None, ref: ModelReference, model: LockedModel
) -> bool:
    """The entry the lockfile names, at its commit, with its files, each its whole blob."""
    if entry is None or not entry.ref.matches(ref) or entry.info.commit != model.commit:
        return False
    have = {(f.path, f.size, f.sha256) for f in entry.info.files}
    if have != {(f.path, f.size, f.sha256) for f in model.files}:
        return False
    return not store.entry_problems(entry.info)


def _installed(catalog: Catalog, ref: ModelReference) -> Entry | None:
    """A manifest that does not read back is rewritten by the install, as a pull would."""
    try:
        return catalog.find(ref)
    except DamagedManifest:
        return None


def locked_plan(store: Store, ref: ModelReference, model: LockedModel) -> PullPlan:
    """A pull plan made of the lockfile alone: no Hub metadata is asked for or trusted."""
    from dataclasses import replace

    from ._download import PullPlan
    from ._fsutil import free_bytes

    paths = [f.path for f in model.files]
    selection = replace(select_files(paths, ref), paths=tuple(paths))
    origin = f"{model.repo}@{model.commit}"
    files = tuple(
        LockedFile(f.path, f.size, f.sha256, f.git_sha1, origin, is_lfs=f.lfs) for f in model.files
    )
    present = {f.path: f.sha256 for f in model.files if store.has_blob(f.sha256, f.size)}
    snapshot = RepoSnapshot(model.repo, model.commit, (), source="lockfile")
    free = free_bytes(store.home) - store.reservations.reserved_by_others()
    return PullPlan(ref, snapshot, selection, files, present, free)


def _prune(store: Store, catalog: Catalog, lock: Lockfile) -> list[SyncOutcome]:
    """Remove entries the lockfile does not name; pinned ones and ones being pulled stay."""
    from filelock import Timeout

    from ._operations import delete_entry

    wanted = [m.ref for m in lock.models]
    outcomes = []
    with store.commit_lock():
        for entry in sorted(catalog.entries(), key=lambda e: e.info.reference):
            if any(entry.ref.matches(ref) for ref in wanted):
                continue
            if is_pinned(store, entry.manifest):
                outcomes.append(SyncOutcome(entry.info.reference, KEPT_PINNED))
                continue
            lock_file = store.entry_lock(entry.ref)
            if lock_file.is_locked:
                outcomes.append(SyncOutcome(entry.info.reference, KEPT_BUSY))
                continue
            try:
                lock_file.acquire(timeout=0)
            except Timeout:
                outcomes.append(SyncOutcome(entry.info.reference, KEPT_BUSY))
                continue
            try:
                delete_entry(store, catalog, entry)
            finally:
                lock_file.release()
            outcomes.append(SyncOutcome(entry.info.reference, PRUNED))
    return outcomes
