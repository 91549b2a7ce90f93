"""Adopt files already on this machine: check each one, then enter it in the store.

Two phases, as a pull: intake (outside any store-wide lock) places every source file under a
partial name of its own (hard link, reflink or copy), hashes what was placed, and compares the
hash with the one the source layout publishes (the blob name); commit (under the entry lock and
the commit lock) renames the verified partials into blobs, links the model folder, re-checks the
links and writes the manifest last.

File mode: a blob hard-linked from a foreign file shares that file's inode, so changing its mode
would change the source's. Imported links keep their mode; only blobs we wrote (copies and
reflinks) are made read-only. See docs/architecture.md, "Import and export".
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .._catalog import Catalog, Entry
from .._digests import git_blob_hasher
from .._errors import DamagedManifest
from .._fsutil import raise_if_no_space
from .._models import ModelFile, ModelInfo
from .._progress import ProgressCallback, ProgressReporter, Stage
from .._references import ModelReference
from .._selection import Selection
from .._store import Store, lock_of, partial_lock
from ._place import NotAFile, Placement, open_source, place

# Files the Hub keeps in git (not LFS) are at most 10 MB: only those get a git blob id.
_GIT_SIZE_LIMIT = 10 * 1000 * 1000
_READ = 8 << 20
_PROGRESS_EVERY = 0.25


@dataclass(frozen=True)
class SourceFile:
    """One file of an entry: where it is here, and the hash its layout publishes, if any."""

    path: str
    source: Path
    sha256: str | None = None
    git_sha1: str | None = None


@dataclass(frozen=True)
class Candidate:
    """An entry to create from files on disk; ``commit`` None means a content id is made."""

    ref: ModelReference
    selection: Selection
    files: tuple[SourceFile, ...]
    commit: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class Skipped:
    """A source file (or entry) left out, and why: one line each."""

    source: str
    reason: str

    def __str__(self) -> str:
        """One line, whatever a hostile file name holds (newlines, escapes)."""
        return f"{_printable(self.source)}: {_printable(self.reason)}"


@dataclass
class ImportReport:
    """What an import did: entries written, entries already here, and what was left out."""

    imported: list[ModelInfo] = field(default_factory=list)
    present: list[ModelInfo] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    bytes_linked: int = 0
    bytes_copied: int = 0

    @property
    def ok(self) -> bool:
        return not self.skipped


@dataclass
class _Intake:
    sha256: str
    git_sha1: str | None
    size: int
    partial: Path | None  # None: the blob was already in the store
    placement: Placement | None


class Adopter:
    """Runs intake and commit for a list of candidates from one source."""

    def __init__(
        self,
        store: Store,
        label: str,
        progress: ProgressCallback | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.store = store
        self.catalog = Catalog(store)
        self.reporter = ProgressReporter(label, progress)
        self.clock = clock or time.monotonic
        self.report = ImportReport()
        self._intakes: dict[Path, _Intake | Skipped] = {}
        self._done = 0
        self._total = 0
        self._files_done = 0
        self._files_total = 0
        self._last_emit = 0.0
        self._current: str | None = None
        self._partials: list[Path] = []

    def run(self, candidates: Sequence[Candidate], skipped: Iterable[Skipped] = ()) -> ImportReport:
        self.report.skipped.extend(skipped)
        self.store.ensure()
        with contextlib.ExitStack() as locks:
            self._intake_all(candidates, locks)
            try:
                for candidate in candidates:
                    self._commit(candidate)
            finally:
                for partial in self._partials:
                    partial.unlink(missing_ok=True)
        for partial in self._partials:  # our own lock files, released above
            lock_of(partial).unlink(missing_ok=True)
        total = sum(i.total_size for i in self.report.imported)
        self.reporter.stage(
            Stage.COMPLETE,
            bytes_done=self._done,
            bytes_total=self._total,
            bytes_verified=self._done,
            files_done=len(self.report.imported),
            files_total=len(candidates),
            path=str(self.store.models) if total else None,
        )
        return self.report

    # -- intake ---------------------------------------------------------------------------------

    def _intake_all(self, candidates: Sequence[Candidate], locks: contextlib.ExitStack) -> None:
        todo: dict[Path, SourceFile] = {}
        for candidate in candidates:
            for f in candidate.files:
                if not self._in_store(f):
                    todo.setdefault(f.source, f)
        self._files_total = len(todo)
        for f in todo.values():
            with contextlib.suppress(OSError):
                self._total += os.lstat(f.source).st_size
        self.reporter.stage(Stage.VERIFYING, bytes_total=self._total, files_total=len(todo))
        for f in todo.values():
            self._current = str(f.source)
            self._intakes[f.source] = self._intake(f, locks)
            self._files_done += 1
            self._emit(force=True)

    def _in_store(self, f: SourceFile) -> bool:
        """A published sha256 whose blob we already hold: the source need not be read."""
        if f.sha256 is None:
            return False
        try:
            size = os.lstat(f.source).st_size
        except OSError:
            return False
        if not self.store.has_blob(f.sha256, size):
            return False
        self._intakes[f.source] = _Intake(f.sha256, f.git_sha1, size, None, None)
        return True

    def _intake(self, f: SourceFile, locks: contextlib.ExitStack) -> _Intake | Skipped:
        try:
            source = open_source(f.source)
        except NotAFile as exc:
            return Skipped(str(f.source), str(exc))
        except OSError as exc:
            return Skipped(str(f.source), f"cannot read it ({exc.strerror})")
        try:
            partial = self.store.import_partial()
            locks.enter_context(partial_lock(partial))
            self._partials.append(partial)
            try:
                placement = place(source, partial)
                sha256, git_sha1 = self._hash(partial, source.size, f.git_sha1 is not None)
            except OSError as exc:
                partial.unlink(missing_ok=True)
                raise_if_no_space(exc, partial)
                return Skipped(str(f.source), f"cannot read it ({exc.strerror or exc})")
        finally:
            source.close()
        problem = _mismatch(f, sha256, git_sha1)
        if problem:
            partial.unlink(missing_ok=True)
            return Skipped(str(f.source), problem)
        if placement is Placement.LINK:
            self.report.bytes_linked += source.size
        else:
            self.report.bytes_copied += source.size
        return _Intake(sha256, git_sha1, source.size, partial, placement)

    def _hash(self, path: Path, size: int, want_git: bool) -> tuple[str, str | None]:
        """sha256 always; the git blob id too for files small enough to live in git."""
        digest = hashlib.sha256()
        # One read feeds both hashes and the progress: a second pass would double the I/O.
        git = git_blob_hasher(size) if want_git or size <= _GIT_SIZE_LIMIT else None
        read = 0
        with open(path, "rb", buffering=0) as stream:
            while chunk := stream.read(_READ):
                digest.update(chunk)
                if git is not None:
                    git.update(chunk)
                read += len(chunk)
                self._done += len(chunk)
                self._emit()
        if read != size:
            raise OSError(0, f"read {read} bytes, expected {size}")
        return digest.hexdigest(), git.hexdigest() if git is not None else None

    def _emit(self, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_emit < _PROGRESS_EVERY:
            return
        self._last_emit = now
        self.reporter.stage(
            Stage.VERIFYING,
            bytes_done=self._done,
            bytes_total=self._total,
            bytes_verified=self._done,
            current_file=self._current,
            files_done=self._files_done,
            files_total=self._files_total,
        )

    # -- commit ---------------------------------------------------------------------------------

    def _commit(self, candidate: Candidate) -> None:
        intakes = []
        for f in candidate.files:
            intake = self._intakes[f.source]
            if isinstance(intake, Skipped):
                reason = f"not imported: {f.path} ({intake.source}: {intake.reason})"
                self.report.skipped.append(Skipped(candidate.ref.canonical, reason))
                return
            intakes.append(intake)
        files = [
            ModelFile(f.path, i.size, i.sha256, i.git_sha1, i.size > _GIT_SIZE_LIMIT)
            for f, i in zip(candidate.files, intakes, strict=True)
        ]
        commit = candidate.commit or content_id(files)
        ref = candidate.ref
        with self.store.entry_lock(ref), self.store.commit_lock():
            entry = self._installed(ref)
            if entry is not None and not self.store.entry_problems(entry.info):
                self.report.present.append(entry.info)
                return
            for mf, intake in zip(files, intakes, strict=True):
                self._commit_blob(intake)
                self.store.link_file(mf.sha256, ref.provider, ref.repo, commit, mf.path)
            for mf in files:
                self.store.check_link(mf, ref.provider, ref.repo, commit)
            info = self._info(candidate, commit, files)
            self.store.write_manifest(info, ref)
        self.report.imported.append(info)

    def _installed(self, ref: ModelReference) -> Entry | None:
        """The entry this candidate would write; a damaged one (or its unreadable manifest) is
        written again from the source."""
        try:
            entry = self.catalog.find(ref)
        except DamagedManifest:
            return None
        return entry if entry is not None and entry.ref.matches(ref) else None

    def _commit_blob(self, intake: _Intake) -> None:
        if intake.partial is None or self.store.has_blob(intake.sha256, intake.size):
            return
        read_only = intake.placement is not Placement.LINK
        self.store.commit_blob(intake.partial, intake.sha256, read_only=read_only)

    def _info(self, candidate: Candidate, commit: str, files: list[ModelFile]) -> ModelInfo:
        from .._download import describe

        ref = candidate.ref
        folder = self.store.model_dir(ref.provider, ref.repo, commit)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        info = ModelInfo(
            reference=ref.canonical,
            repo=ref.repo,
            revision=ref.revision,
            selector=ref.selector,
            commit=commit,
            format=candidate.selection.format,
            model_path=self.store.model_path(
                ref.provider, ref.repo, commit, candidate.selection.primary
            ),
            files=files,
            downloaded_at=now,
            verified_at=now,
            metadata=describe(folder, [f.path for f in files]),
            provider=ref.provider,
            imported_from=candidate.origin or None,
        )
        return info


def _printable(text: str) -> str:
    return text if text.isprintable() else repr(text)[1:-1]


def _mismatch(f: SourceFile, sha256: str, git_sha1: str | None) -> str | None:
    if f.sha256 is not None and f.sha256 != sha256:
        return f"sha256 {sha256[:12]}... does not match its published {f.sha256[:12]}..."
    if f.git_sha1 is not None and f.git_sha1 != git_sha1:
        return f"git blob id {git_sha1}... does not match its published {f.git_sha1}"
    return None


def content_id(files: Iterable[ModelFile]) -> str:
    """A 40-hex id for an entry that has no commit (Ollama, a plain folder): the same files
    give the same id, so importing twice names one folder."""
    digest = hashlib.sha1(usedforsecurity=False)
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.sha256}\n".encode())
    return digest.hexdigest()
