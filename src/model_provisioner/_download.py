"""A pull, top to bottom: plan -> reserve -> transfer (verified as it arrives) -> commit.

The manifest is written last: until then nothing is listed, and an entry that was already
installed keeps pointing at its own, untouched files.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._catalog import Catalog, Entry
from ._errors import (
    DamagedManifest,
    IntegrityError,
    MetadataError,
    ModelNotFound,
    OfflineError,
    ProvisionerError,
)
from ._fsutil import free_bytes
from ._hub import HubClient, HubSettings, RemoteFile, RepoSnapshot
from ._metadata import read_local_metadata
from ._models import HASH_FIRST_SEEN, HASH_PUBLISHED, ModelFile, ModelInfo, ModelMetadata
from ._progress import ProgressCallback, ProgressReporter, Stage, Ticker, TransferStats
from ._references import LOCAL_PROVIDERS, ModelReference
from ._reservations import Reservation, remaining_bytes
from ._selection import Selection, select_files
from ._store import Store
from ._transfer import TransferEngine, TransferJob, TransferOptions
from ._usage import record_use

# Rounds of "fetch what is missing, re-check under the commit lock" before giving up.
_COMMIT_TRIES = 5


@dataclass(frozen=True)
class PullPlan:
    """What a pull will fetch; ``present`` maps a path to the sha256 of a blob already stored."""

    ref: ModelReference
    snapshot: RepoSnapshot
    selection: Selection
    files: tuple[RemoteFile, ...]
    present: dict[str, str]
    free: int

    @property
    def missing(self) -> tuple[RemoteFile, ...]:
        return tuple(f for f in self.files if f.path not in self.present)

    @property
    def bytes_total(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def bytes_to_fetch(self) -> int:
        return sum(f.size for f in self.missing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.ref.with_repo(self.snapshot.repo).canonical,
            "commit": self.snapshot.commit,
            "format": self.selection.format,
            "files": [
                {"path": f.path, "size": f.size, "in_store": f.path in self.present}
                for f in self.files
            ],
            "bytes_total": self.bytes_total,
            "bytes_to_fetch": self.bytes_to_fetch,
            "free": self.free,
            "fits": self.bytes_to_fetch <= self.free,
        }


@dataclass
class PullRequest:
    ref: ModelReference
    update: bool = True
    progress: ProgressCallback | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    allow_unverified: bool = False  # accept files no published hash covers (hash first seen here)


class Downloader:
    def __init__(
        self,
        store: Store,
        settings: HubSettings,
        options: TransferOptions | None = None,
        budget: int | None = None,
    ) -> None:
        """``budget`` caps the store's size: a pull evicts unpinned models to fit under it."""
        self._store = store
        self.budget = budget
        self._catalog = Catalog(store)
        self.settings = settings
        self.hub = HubClient(settings)
        self.engine = TransferEngine(settings, options, is_stored=self._stored)
        self.reservations = store.reservations

    def pull(self, request: PullRequest) -> ModelInfo:
        ref = request.ref
        reporter = ProgressReporter(ref.canonical, request.progress)
        entry = self._installed(ref)
        damage = self._store.entry_problems(entry.info) if entry else []
        stays = entry is not None and (not request.update or ref.pinned or self.settings.offline)
        if entry and stays and not damage:
            return self._done(reporter, entry.info)
        if ref.provider in LOCAL_PROVIDERS:
            if entry is not None and damage:
                raise IntegrityError(
                    f"{ref.canonical} is damaged: " + "; ".join(damage),
                    hint="import it again from its source",
                )
            if entry is not None:
                return self._done(reporter, entry.info)
            raise ModelNotFound(
                f"{ref.canonical} is not installed, and {ref.provider}: models are not pulled",
                hint="provisioner import adopts them from their tool's store",
            )
        if entry is not None:
            ref = entry.ref  # a bare org/repo updates the installed entry it resolves to
        if self.settings.offline:
            raise _offline(ref, damage)
        self._store.ensure()
        reporter.stage(Stage.RESOLVING)
        with self._store.entry_lock(ref):
            # An entry that must not move is repaired at its own commit.
            at = entry.info.commit if entry and stays else None
            plan = self.plan(ref, allow_unverified=request.allow_unverified, at=at)
            entry = self._installed(ref)
            if entry and _holds_plan(entry.info, plan) and self._whole(entry):
                return self._done(reporter, entry.info)
            info = self._fetch_and_commit(plan, reporter, request.cancel)
        return self._done(reporter, info)

    def _fetch_and_commit(
        self, plan: PullPlan, reporter: ProgressReporter, cancel: threading.Event
    ) -> ModelInfo:
        """Transfer what is missing, then commit under the store's commit lock.

        The plan's "already stored" is re-checked inside the lock: what a delete or gc removed
        meanwhile (despite the reservation, e.g. before it was written) is fetched again, a
        bounded number of times. The reservations stay until the manifest is written, so gc
        and delete keep the verified partials and the stored blobs this pull will link.
        """
        present = dict(plan.present)
        todo = plan.missing
        hashes: dict[str, str] = {}
        with contextlib.ExitStack() as held:
            for _ in range(_COMMIT_TRIES):
                partials = {
                    self._store.partial_path(f.sha256, f.git_sha1, f.unverified_key): f.size
                    for f in todo
                }
                held.enter_context(self._claim(plan, partials, present))
                hashes |= self._transfer(plan, todo, reporter, cancel)
                with self._store.commit_lock():
                    todo = self._vanished(plan, present, hashes)
                    if not todo:
                        return self._commit(plan, present, hashes)
                for f in todo:
                    present.pop(f.path, None)
                    hashes.pop(f.path, None)
        names = ", ".join(f.path for f in todo)
        raise IntegrityError(
            f"{plan.ref.canonical}: files kept disappearing before the commit ({names})",
            hint="another command is removing them; run the pull again when it is done",
        )

    def _claim(
        self, plan: PullPlan, partials: dict[Path, int], present: dict[str, str]
    ) -> Reservation:
        """Reserve disk space; under a budget, first evict least recently used models so the
        pull fits it (eviction and claim under the commit lock, so two pulls cannot both count
        the same room)."""
        what, blobs = plan.ref.canonical, present.values()
        if self.budget is None:
            return self.reservations.claim(partials, what, blobs=blobs)
        from ._eviction import make_room

        with self._store.commit_lock():
            need = remaining_bytes(partials)
            others = self.reservations.reserved_by_others()
            room = make_room(self._store, self._catalog, self.budget, need, others, blobs)
            free = min(room, free_bytes(self._store.home))
            return self.reservations.claim(partials, what, free=free, blobs=blobs)

    def install_plan(
        self, plan: PullPlan, progress: ProgressCallback | None, cancel: threading.Event
    ) -> ModelInfo:
        """Fetch and commit a plan made elsewhere (``sync`` makes one from a lockfile)."""
        reporter = ProgressReporter(plan.ref.canonical, progress)
        self._store.ensure()
        with self._store.entry_lock(plan.ref):
            info = self._fetch_and_commit(plan, reporter, cancel)
        return self._done(reporter, info)

    def _whole(self, entry: Entry) -> bool:
        """Every file is its verified blob (stat only): else the same commit is fetched again,
        and what is still whole is only relinked."""
        return not self._store.entry_problems(entry.info)

    def _installed(self, ref: ModelReference) -> Entry | None:
        """The installed entry; a manifest that does not read back is rewritten by this pull."""
        try:
            return self._catalog.find(ref)
        except DamagedManifest:
            return None

    def plan(
        self, ref: ModelReference, *, allow_unverified: bool = False, at: str | None = None
    ) -> PullPlan:
        """``at``: a commit to plan against instead of where the revision points now."""
        snapshot = self.hub.snapshot(ref if at is None else replace(ref, revision=at))
        selection = select_files([f.path for f in snapshot.files], ref)
        files = self.hub.files(snapshot, selection.paths, allow_unverified=allow_unverified)
        known = self._known_small_files(ref)
        present: dict[str, str] = {}
        for f in files:
            sha256 = f.sha256 or known.get(f.git_sha1 or "")
            if sha256 and self._store.has_blob(sha256, f.size):
                present[f.path] = sha256
        free = free_bytes(self._store.home) - self.reservations.reserved_by_others()
        return PullPlan(ref, snapshot, selection, files, present, free)

    def _known_small_files(self, ref: ModelReference) -> dict[str, str]:
        """git sha1 -> sha256 of small files stored before, so they are not fetched again."""
        return {
            f.git_sha1: f.sha256
            for entry in self._catalog.entries_of(ref)
            for f in entry.info.files
            if f.git_sha1
        }

    def _transfer(
        self,
        plan: PullPlan,
        files: Sequence[RemoteFile],
        reporter: ProgressReporter,
        cancel: threading.Event,
    ) -> dict[str, str]:
        if not files:
            return {}
        jobs = [
            TransferJob(
                url=self.settings.file_url(plan.snapshot.repo, plan.snapshot.commit, f.path),
                path=f.path,
                size=f.size,
                sha256=f.sha256,
                git_sha1=f.git_sha1,
                partial=self._store.partial_path(f.sha256, f.git_sha1, f.unverified_key),
                unverified=f.unverified,
            )
            for f in files
        ]
        stats = TransferStats()
        done = plan.bytes_total - sum(f.size for f in files)
        with Ticker(lambda: reporter.sample(stats, done, done)):
            hashes = self.engine.run(jobs, stats, cancel)
        reporter.stage(Stage.VERIFYING, bytes_done=plan.bytes_total, bytes_total=plan.bytes_total)
        return hashes

    def _vanished(
        self, plan: PullPlan, present: dict[str, str], hashes: dict[str, str]
    ) -> tuple[RemoteFile, ...]:
        """Files whose bytes are no longer where the commit needs them (called under the lock).

        A fetched file needs its blob, or its verified partial: right size, no journal (a
        journal means someone reopened it and may be writing).
        """
        gone = []
        for f in plan.files:
            sha256 = present.get(f.path) or hashes[f.path]
            if self._store.has_blob(sha256, f.size):
                continue
            partial = self._store.partial_path(f.sha256, f.git_sha1, f.unverified_key)
            if f.path in present or not self._store.is_verified_partial(partial, f.size):
                gone.append(f)
        return tuple(gone)

    def _commit(self, plan: PullPlan, present: dict[str, str], hashes: dict[str, str]) -> ModelInfo:
        """Blobs, then links, each re-checked, then the manifest; the caller holds the lock."""
        snap, ref = plan.snapshot, plan.ref
        old = self._installed(ref)
        files = []
        for f in plan.files:
            sha256 = present.get(f.path) or hashes[f.path]
            if f.path not in present:
                self._commit_blob(f, sha256)
            self._store.link_file(sha256, ref.provider, snap.repo, snap.commit, f.path)
            source = HASH_FIRST_SEEN if f.unverified else HASH_PUBLISHED
            files.append(ModelFile(f.path, f.size, sha256, f.git_sha1, f.lfs, source))
        for mf in files:
            self._store.check_link(mf, ref.provider, snap.repo, snap.commit)
        folder = self._store.model_dir(ref.provider, snap.repo, snap.commit)
        now = _now()
        metadata = describe(folder, plan.selection.paths)
        info = ModelInfo(
            reference=ref.with_repo(snap.repo).canonical,
            repo=snap.repo,
            revision=ref.revision,
            selector=ref.selector,
            commit=snap.commit,
            format=plan.selection.format,
            model_path=self._store.model_path(
                ref.provider, snap.repo, snap.commit, plan.selection.primary
            ),
            files=files,
            downloaded_at=now,
            verified_at=now,
            metadata=metadata,
            endpoint=self.settings.endpoint,
        )
        manifest = self._store.write_manifest(info, ref)
        record_use(self._store, manifest)
        if old is not None and old.manifest == manifest and old.info.commit != snap.commit:
            used = self._catalog.used_files(ref.provider, snap.repo, besides=old.manifest)
            used |= {(snap.commit, f.path) for f in files}
            self._store.release(old.info, used)
        return info

    def _commit_blob(self, f: RemoteFile, sha256: str) -> None:
        """Another process, or another path with the same bytes, may have committed it first."""
        partial = self._store.partial_path(f.sha256, f.git_sha1, f.unverified_key)
        if self._store.has_blob(sha256, f.size):
            partial.unlink(missing_ok=True)
        else:
            self._store.commit_blob(partial, sha256)

    def _stored(self, job: TransferJob) -> str | None:
        """The engine asks this after waiting on another process's lock for the same blob."""
        if job.sha256 and self._store.has_blob(job.sha256, job.size):
            return job.sha256
        return None

    def _done(self, reporter: ProgressReporter, info: ModelInfo) -> ModelInfo:
        reporter.stage(
            Stage.COMPLETE,
            bytes_done=info.total_size,
            bytes_total=info.total_size,
            bytes_verified=info.total_size,
            files_done=info.file_count,
            files_total=info.file_count,
            path=str(info.model_path),
        )
        return info


def _holds_plan(info: ModelInfo, plan: PullPlan) -> bool:
    """The entry is at the plan's commit and has every file it selects (an imported entry
    may hold fewer: the missing ones are fetched, the rest is found in the store)."""
    have = {f.path for f in info.files}
    return info.commit == plan.snapshot.commit and all(f.path in have for f in plan.files)


def describe(folder: Path, paths: Sequence[str]) -> ModelMetadata:
    """Header summary for the manifest, so list and info never open a model file.

    The bytes already matched the Hub's hashes; a header we cannot parse is recorded, not fatal.
    """
    try:
        return read_local_metadata(folder, paths)
    except MetadataError as exc:
        return ModelMetadata(error=exc.message)


def _offline(ref: ModelReference, damage: list[str]) -> ProvisionerError:
    if damage:
        return IntegrityError(
            f"{ref.canonical} is damaged and HF_HUB_OFFLINE is set: " + "; ".join(damage),
            hint="unset HF_HUB_OFFLINE so that pull can fetch it again",
            problems=damage,
        )
    return OfflineError(f"{ref.canonical} is not installed and HF_HUB_OFFLINE is set")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
