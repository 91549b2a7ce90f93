"""ModelProvisioner: the public face over the store, the catalog and the downloader.

Every method takes a reference string and goes through the same parser and the same catalog
lookup, so find, info, verify, delete and pull always agree on which model is meant.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypedDict, TypeVar, Unpack

from ._aliases import AliasFile
from ._catalog import Catalog
from ._errors import DamagedManifest, IntegrityError, ModelNotFound, UsageError
from ._fsutil import store_errors
from ._listing import Listing
from ._models import ModelInfo, RepairReport, VerifyReport
from ._offers import DEFAULT_CONTEXT
from ._operations import (
    collect_garbage,
    delete_entry,
    disk_usage,
    inspect_entry,
    path_size,
    sharing_entries,
    usable_entry,
    verify_entry,
)
from ._progress import DownloadProgress, ProgressCallback
from ._references import ModelReference, parse_reference
from ._store import Store
from ._usage import is_pinned, last_used, record_use, set_pinned

if TYPE_CHECKING:
    import asyncio

    # The download side (the engine, the metadata client) costs ~0.3 s to import: commands
    # that only read the store (path, list, info) never load it. See tests/test_cli_imports.py.
    from ._config import Config
    from ._download import Downloader, PullPlan
    from ._gc import GcReport
    from ._hf_export import ExportReport
    from ._hub import HubSettings
    from ._imports import ImportReport
    from ._lockfile import Lockfile
    from ._mirror import Mirror
    from ._offers import RemoteOffers
    from ._ratelimit import RateLimiter
    from ._remote import RemoteInspection
    from ._search import SearchHit
    from ._sync import SyncReport
    from ._transfer import TransferOptions


P = ParamSpec("P")
R = TypeVar("R")


def _store_errors(
    method: Callable[Concatenate[ModelProvisioner, P], R],
) -> Callable[Concatenate[ModelProvisioner, P], R]:
    """A read-only or full home ends every call in one StoreNotWritable or DiskSpaceError."""

    @functools.wraps(method)
    def run(self: ModelProvisioner, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with store_errors(self.home):
            return method(self, *args, **kwargs)

    return run


class PullOptions(TypedDict, total=False):
    """The keywords ``pull`` passes on to ``install``: one list, so the two cannot drift."""

    update: bool
    progress: ProgressCallback | None
    cancel: threading.Event | None
    allow_unverified: bool


def default_home() -> Path:
    """``PROVISIONER_HOME``, else the platform's per-user data folder."""
    env = os.environ.get("PROVISIONER_HOME")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("model-provisioner"))


class ModelProvisioner:
    """Models on this machine: pull, list, find, inspect, verify, delete, measure."""

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        transfer: TransferOptions | None = None,
        limit_rate: float | None = None,
        budget: int | None = None,
    ) -> None:
        """Arguments beat the environment, which beats ``<home>/config.toml``."""
        self._store = Store(Path(base_dir) if base_dir is not None else default_home())
        self._catalog = Catalog(self._store)
        self._endpoint = endpoint
        self._token = token
        self._transfer_options = transfer
        self._limit_rate = limit_rate
        self._budget = budget
        self._max_connections: int | None = None
        self._limiter: RateLimiter | None = None

    @functools.cached_property
    def config(self) -> Config:
        """``<home>/config.toml`` with the environment applied (read on first need only)."""
        from ._config import load_config

        return load_config(self.home)

    @property
    def limiter(self) -> RateLimiter | None:
        """One bandwidth cap for every pull of this provisioner (all the service's jobs)."""
        rate = self._limit_rate or self.config.limit_rate
        if rate is None:
            return None
        if self._limiter is None or self._limiter.rate != rate:
            from ._ratelimit import RateLimiter

            self._limiter = RateLimiter(rate)
        return self._limiter

    @property
    def limit_rate(self) -> float | None:
        """The bandwidth cap of every pull, bytes per second (argument, else config); None: none."""
        return self._limit_rate or self.config.limit_rate

    @limit_rate.setter
    def limit_rate(self, rate: float | None) -> None:
        self._limit_rate = rate

    @property
    def home(self) -> Path:
        """The store folder (argument, else ``$PROVISIONER_HOME``, else the user data folder)."""
        return self._store.home

    @property
    def endpoint(self) -> str:
        """The Hub or mirror this provisioner pulls from (argument, $HF_ENDPOINT, config)."""
        return self._settings().endpoint

    def parse(self, reference: str | ModelReference) -> ModelReference:
        """One reference, validated; a name without ``/`` goes through ``aliases.toml``.

        Args:
            reference: ``[hf:]ORG/NAME[@REV][:SELECTOR]``, a Hub URL, or an alias.
        Returns:
            The parsed reference (canonical spelling in ``.canonical``).
        Raises:
            InvalidReference: malformed, hostile, or an unknown alias (with the closest name).
        """
        if isinstance(reference, ModelReference):
            return reference
        return parse_reference(reference, AliasFile(self.home))

    @_store_errors
    def list_models(self) -> list[ModelInfo]:
        """Every installed entry, read from manifests only (no model file is opened).

        Returns:
            The entries; damaged manifests are left out (see ``damaged_manifests``).
        Raises:
            StoreNotWritable: the home cannot be read.
        """
        return self._catalog.all()

    @_store_errors
    def listing(self) -> Listing:
        """Every installed entry as ``list`` and the service show it, and the damaged manifests,
        from one walk of the manifests: the fast way to list (10,000 entries in tens of ms when
        ``catalog.cache`` is warm, benchmarks/catalog.py).

        Each ``ListedModel`` carries its model object already rendered as JSON (``.json``, the
        object ``list --json`` prints, docs/json.md), the fields a list shows, filters and sorts
        by, and its ModelInfo (``.info``), built on first use.

        Returns:
            A Listing: ``models`` (in manifest path order) and ``damaged``.
        Raises:
            StoreNotWritable: the home cannot be read.
        """
        good, bad = self._store.listing()
        return Listing([m for _, m in good], [b.error() for b in bad])

    @_store_errors
    def scan_catalog(self) -> tuple[list[ModelInfo], list[DamagedManifest]]:
        """``list_models`` and ``damaged_manifests`` from one walk of the manifests (``list``:
        with 10,000 entries the walk is most of its time).

        Returns:
            (entries, damaged manifests as errors naming their file and problem).
        Raises:
            StoreNotWritable: the home cannot be read.
        """
        good, bad = self._store.read_all()
        return [info for _, info in good], [b.error() for b in bad]

    @_store_errors
    def damaged_manifests(self) -> list[DamagedManifest]:
        """Manifests that do not read back (``list`` shows them, ``verify --all`` fails on them).

        Returns:
            One DamagedManifest per bad file, with its path and problems; never raised here.
        """
        return [bad.error() for bad in self._catalog.damaged()]

    @_store_errors
    def find_local_model(self, reference: str) -> Path | None:
        """The path a worker loads: the GGUF file (first part if split) or the model folder.

        Never a path that is missing or known damaged. Stat calls only, so this stays fast.
        Counts as a use (eviction takes the least recently used first): one best-effort
        ``utime``, so a read-only store still answers.

        Args:
            reference: a reference or alias; a bare ``org/repo`` means its installed entry.
        Returns:
            The path, or None when the model is not installed.
        Raises:
            InvalidReference: the reference does not parse. IntegrityError: a file is missing
            or known damaged (the hint names the repair command). DamagedManifest: its
            manifest does not read back.
        """
        entry = self._catalog.find(self.parse(reference))
        if entry is None:
            return None
        path = usable_entry(self._store, entry).model_path
        record_use(self._store, entry.manifest)
        return path

    @_store_errors
    def use_model(self, reference: str) -> ModelInfo:
        """``usable_model``, recorded as a use: the entry a worker is about to load.

        Args:
            reference: as for ``find_local_model``.
        Returns:
            The entry, whole by stat.
        Raises:
            ModelNotFound: not installed. IntegrityError: a file missing or known damaged.
        """
        entry = self._catalog.get(self.parse(reference))
        info = usable_entry(self._store, entry)
        record_use(self._store, entry.manifest)
        return info

    @_store_errors
    def set_pinned(self, reference: str, pinned: bool = True) -> ModelInfo:
        """A pinned model is never evicted to fit a budget (``rm`` still removes it).

        Args:
            reference: the installed model. pinned: False unpins it.
        Returns:
            The entry.
        Raises:
            ModelNotFound: not installed. StoreNotWritable: the home is read-only.
        """
        entry = self._catalog.get(self.parse(reference))
        set_pinned(self._store, entry.manifest, pinned)
        return entry.info

    def is_pinned(self, reference: str) -> bool:
        """Whether ``gc --max-size`` and budgets leave the model alone.

        Raises:
            ModelNotFound: not installed.
        """
        return is_pinned(self._store, self._catalog.get(self.parse(reference)).manifest)

    def last_used(self, reference: str) -> float:
        """When the model was last handed to a worker (or pulled), in seconds since the epoch.

        Raises:
            ModelNotFound: not installed.
        """
        return last_used(self._store, self._catalog.get(self.parse(reference)).manifest)

    def find_local_projector(self, reference: str) -> Path | None:
        """The vision projector (``mmproj-*.gguf``) that came with the model, if any.

        Args:
            reference: as for ``find_local_model`` (the same entry is meant).
        Returns:
            Its path, or None when the model is not installed or has no projector.
        Raises:
            IntegrityError: a file of the entry is missing or known damaged.
        """
        entry = self._catalog.find(self.parse(reference))
        return usable_entry(self._store, entry).projector_path if entry else None

    @_store_errors
    def get_model_info(self, reference: str) -> ModelInfo:
        """The catalog entry a reference means (one rule: see the README's "Which file").

        Args:
            reference: a reference or alias; a bare ``org/repo`` means its installed entry.
        Returns:
            The entry: commit, files with sizes and sha256, path, header metadata.
        Raises:
            InvalidReference: the reference does not parse. ModelNotFound: not installed.
        """
        return self._catalog.get(self.parse(reference)).info

    @_store_errors
    def usable_model(self, reference: str | ModelReference) -> ModelInfo:
        """The installed entry if every file is whole by stat (no hashing).

        Args:
            reference: a reference, alias or parsed reference.
        Returns:
            The entry.
        Raises:
            ModelNotFound: not installed. IntegrityError: a file missing or known damaged.
        """
        return usable_entry(self._store, self._catalog.get(self.parse(reference)))

    def whole_model(self, reference: str | ModelReference) -> ModelInfo | None:
        """The installed entry if whole by stat; None if absent or damaged (a pull repairs it).

        Args:
            reference: a reference, alias or parsed reference.
        Returns:
            The entry, or None. Raises only InvalidReference.
        """
        try:
            return self.usable_model(reference)
        except (ModelNotFound, IntegrityError):
            return None

    @_store_errors
    def damage(self, reference: str) -> list[str]:
        """What a pull would repair, by stat only.

        Args:
            reference: a reference or alias.
        Returns:
            One problem per damaged file (``path: problem``); ``[]`` when whole or not installed.
        Raises:
            InvalidReference: the reference does not parse.
        """
        try:
            entry = self._catalog.find(self.parse(reference))
        except DamagedManifest as exc:
            return exc.problems
        return self._store.entry_problems(entry.info) if entry else []

    @_store_errors
    def verify_model(self, reference: str) -> VerifyReport:
        """Re-hash every file of the entry and check GGUF/safetensors structure.

        Returns:
            The report (every file passed).
        Raises:
            ModelNotFound: not installed. IntegrityError: damage, with ``.problems`` per file.
        """
        return verify_entry(self._store, self._catalog.get(self.parse(reference)))

    @_store_errors
    def repair_model(self, reference: str) -> RepairReport:
        """Verify; refetch what is damaged for every entry that shares it; verify again.

        Args:
            reference: the installed model to check.
        Returns:
            What was found, which entries were repaired, and the final verify report.
        Raises:
            ModelNotFound: not installed. IntegrityError: still damaged after the refetch.
            NetworkError, AuthError, DiskSpaceError: the refetch failed (damage stays
            quarantined, never handed out).
        """
        entry = self._catalog.get(self.parse(reference))
        found = inspect_entry(self._store, entry)
        if found.ok:
            return RepairReport(entry.info.reference, [], [], verify_entry(self._store, entry))
        sharing = sharing_entries(self._catalog, entry, found)
        for other in sharing:
            # A file first seen here was allowed once; its repair may only fetch it the same way.
            unverified = any(f.unverified for f in other.info.files)
            self.install(other.info.reference, update=False, allow_unverified=unverified)
        report = verify_entry(self._store, self._catalog.get(entry.ref))
        return RepairReport(
            entry.info.reference, found.problems, [e.info.reference for e in sharing], report
        )

    @_store_errors
    def delete_model(self, reference: str) -> ModelInfo:
        """Unlist an entry, then free the files no other entry links.

        Looked up and removed under the commit lock: a pull's commit is never half-seen.

        Returns:
            The entry that was removed.
        Raises:
            InvalidReference: bad reference. ModelNotFound: not installed.
        """
        ref = self.parse(reference)
        with self._store.commit_lock():
            entry = self._catalog.get(ref)
            delete_entry(self._store, self._catalog, entry)
        return entry.info

    @_store_errors
    def get_total_disk_usage(self) -> int:
        """Bytes the store occupies on disk (allocated blocks), shared content counted once.

        Raises:
            StoreNotWritable: the home cannot be read.
        """
        return disk_usage(self._store)

    @_store_errors
    def lock(self, references: Sequence[str] = ()) -> Lockfile:
        """The installed set (or the named models) exactly: commits, files, sizes, sha256.

        Args:
            references: models to include; empty: every installed entry.
        Returns:
            The lockfile (``str(lockfile)`` / ``.dumps()`` is the text ``provisioner lock`` prints).
        Raises:
            InvalidReference, ModelNotFound: a named model.
        """
        from ._lockfile import Lockfile

        if not references:
            return Lockfile.of(self._catalog.all())
        entries = (self._catalog.get(self.parse(r)) for r in references)
        return Lockfile.of({e.info.reference: e.info for e in entries}.values())

    @_store_errors
    def sync(
        self,
        lock: Lockfile,
        *,
        prune: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncReport:
        """Hold exactly what ``lock`` names: fetch what is missing (verified against its
        hashes), remove others only with ``prune``. One model failing does not stop the rest.

        Args:
            lock: a parsed lockfile. prune: remove entries it does not name.
            progress: DownloadProgress events. cancel: set to stop at a resumable point.
        Returns:
            One outcome per model (``.ok`` False if any failed).
        """
        from ._sync import sync

        return sync(
            self._catalog, self._downloader(), lock, prune=prune, progress=progress, cancel=cancel
        )

    @_store_errors
    def gc(
        self,
        older_than: float = 86400.0,
        *,
        max_size: int | None = None,
        keep_recent: float | None = None,
        dry_run: bool = False,
    ) -> GcReport:
        """Garbage, then (with ``max_size``) unpinned models least recently used first.

        Args:
            older_than: seconds a partial download must be untouched before it is garbage.
            max_size: evict until the store fits in this many bytes.
            keep_recent: never evict a model used this many seconds ago or less.
            dry_run: report, remove nothing.
        Returns:
            What was (or would be) removed and the bytes freed.
        Raises:
            DiskSpaceError: the store still does not fit ``max_size``.
            StoreNotWritable: the home is read-only.
        """
        from ._eviction import KEEP_RECENT
        from ._gc import collect

        recent = KEEP_RECENT if keep_recent is None else keep_recent
        return collect(self._store, self._catalog, older_than, max_size, recent, dry_run=dry_run)

    @_store_errors
    def collect_garbage(self, older_than: float = 86400.0, *, dry_run: bool = False) -> list[Path]:
        """Stale partial downloads, and files a crash left unlisted, untouched for a while.

        Args:
            older_than: seconds untouched. dry_run: report, remove nothing.
        Returns:
            The paths removed (or that would be).
        """
        from ._partials import collect_stale_partials

        found = collect_stale_partials(self._store, older_than, dry_run=dry_run)
        with self._store.commit_lock():
            return found + collect_garbage(self._store, self._catalog, older_than, dry_run=dry_run)

    def get_model_size(self, path: str | os.PathLike[str]) -> int:
        """Bytes of a file, or of every file under a folder (links not followed).

        Args:
            path: a file or folder.
        Returns:
            The apparent size in bytes.
        Raises:
            OSError: the path does not exist.
        """
        return path_size(Path(path))

    @_store_errors
    def import_hf_cache(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        reference: str | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Adopt a huggingface_hub cache (every repo and revision, or one reference).

        Args:
            cache_dir: the cache (default: ``HF_HUB_CACHE`` / ``HF_HOME`` / the default).
            reference: only this model. progress: DownloadProgress events.
        Returns:
            Entries imported and files skipped (each with why); a damaged file is skipped.
        Raises:
            UsageError: no such cache folder.
        """
        from ._imports import import_hf_cache

        want = self.parse(reference) if reference else None
        return import_hf_cache(self._store, _path(cache_dir), want, progress)

    @_store_errors
    def import_llama_cpp(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Adopt llama.cpp's downloads (its hf-style cache and its older flat files).

        Args:
            cache_dir: the cache (default: ``LLAMA_CACHE``, else the platform's default).
            progress: DownloadProgress events.
        Returns:
            Entries imported and files skipped (each with why).
        """
        from ._imports import import_llama_cpp

        return import_llama_cpp(self._store, _path(cache_dir), progress)

    @_store_errors
    def import_ollama(
        self,
        models_dir: str | os.PathLike[str] | None = None,
        name: str | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Adopt an Ollama store's GGUF models as ``ollama:NAMESPACE/MODEL@TAG`` entries.

        Args:
            models_dir: the store (default: ``OLLAMA_MODELS``, else ``~/.ollama/models``).
            name: only this model (``llama3:8b``). progress: DownloadProgress events.
        Returns:
            Entries imported and layers skipped (each with why).
        """
        from ._imports import import_ollama
        from ._imports._ollama import ollama_reference

        want = ollama_reference(name) if name else None
        return import_ollama(self._store, _path(models_dir), want, progress)

    @_store_errors
    def import_folder(
        self,
        folder: str | os.PathLike[str],
        name: str,
        *,
        progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Adopt a plain folder of model files as ``local:ORG/NAME``.

        Args:
            folder: GGUF files, or safetensors with config and tokenizer.
            name: ``ORG/NAME`` of the new entry. progress: DownloadProgress events.
        Returns:
            Entries imported and files skipped (each with why).
        Raises:
            InvalidReference: a bad name. UsageError: not a folder.
        """
        from ._imports import import_folder

        ref = parse_reference(name if name.startswith("local:") else f"local:{name}")
        return import_folder(self._store, Path(folder), ref, progress)

    @_store_errors
    def export_hf_cache(self, cache_dir: str | os.PathLike[str] | None = None) -> ExportReport:
        """Lay installed models out as a huggingface_hub cache made of links to the store.

        Args:
            cache_dir: where (default: the huggingface_hub cache folder).
        Returns:
            What was linked; nothing is ever removed from the cache.
        """
        from ._imports import hf_hub_cache

        return self._export(_path(cache_dir) or hf_hub_cache(), self._catalog.all())

    def _export(self, cache: Path, infos: list[ModelInfo]) -> ExportReport:
        from ._hf_export import export_hf_cache

        return export_hf_cache(self._store, cache, infos)

    @_store_errors
    def plan(self, reference: str, *, allow_unverified: bool = False) -> PullPlan:
        """What a pull would fetch, fetching nothing (``pull --dry-run``).

        Raises:
            ModelNotFound: repo, revision or selected file not on the Hub. AuthError: gated or
            private. NetworkError: the Hub failed. OfflineError: ``HF_HUB_OFFLINE`` is set.
        """
        return self._downloader().plan(self.parse(reference), allow_unverified=allow_unverified)

    def inspect_remote(self, reference: str) -> RemoteInspection:
        """Metadata of a model not yet downloaded, from its headers alone (``info --remote``).

        Returns:
            The plan, the header summary (or the reason it could not be read) and the bytes
            and requests it took. Raises: as ``plan``; AuthError when a header read is refused.
        """
        from ._remote import inspect_remote

        downloader = self._downloader()
        # Only headers are read, nothing is installed: a file without a published hash is fine.
        plan = downloader.plan(self.parse(reference), allow_unverified=True)
        return inspect_remote(plan, downloader.settings, downloader.engine.options)

    def remote_offers(self, reference: str, *, context: int = DEFAULT_CONTEXT) -> RemoteOffers:
        """Every quantization a repo offers: size, the default, whether it fits the disk, and
        the memory a worker needs at ``context`` tokens (``info --remote``).

        Args:
            reference: a repo (a selector marks which offer the pull would take).
            context: tokens of context the worker will run with.
        Returns:
            The offers, the default marked.
        Raises:
            as ``inspect_remote``.
        """
        from ._offers import remote_offers

        return remote_offers(self.inspect_remote(reference), context)

    def search(self, text: str, *, limit: int = 20) -> list[SearchHit]:
        """GGUF repositories on the Hub whose id contains ``text``, most downloaded first.

        Raises:
            UsageError: empty or over-long text. NetworkError: the Hub failed.
            OfflineError: ``HF_HUB_OFFLINE`` is set.
        """
        from ._search import search_gguf

        return search_gguf(self._settings(), text, limit)

    @_store_errors
    def install(
        self,
        reference: str,
        *,
        update: bool = True,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        allow_unverified: bool = False,
    ) -> ModelInfo:
        """Pull and return the catalog entry; ``update=False`` trusts an installed entry.

        Args:
            reference, update, progress, cancel: as for ``pull``.
            allow_unverified: accept files no published hash covers; their sha256 is recorded
                as first seen here.
        Returns:
            The entry, committed and listed.
        Raises:
            as ``pull``.
        """
        from ._download import PullRequest

        request = PullRequest(
            self.parse(reference),
            update,
            progress,
            cancel or threading.Event(),
            allow_unverified=allow_unverified,
        )
        info = self._downloader().pull(request)
        if self.config.export_hf_cache is not None:
            self._export(Path(self.config.export_hf_cache), [info])
        return info

    def pull(self, reference: str, **options: Unpack[PullOptions]) -> Path:
        """Make the model present at the revision's current commit.

        Args:
            reference: a reference or alias; a bare ``org/repo`` updates its installed entry,
                else takes the best quantization on the ladder.
            options: ``update`` (False trusts an installed entry: no network call),
                ``progress`` (called with every DownloadProgress event, from a worker thread),
                ``cancel`` (set it to stop at a resumable point: raises Cancelled),
                ``allow_unverified``: as for ``install``.
        Returns:
            The path a worker loads (GGUF file, first split part, or folder).
        Raises:
            InvalidReference, ModelNotFound, AuthError, NetworkError, IntegrityError,
            DiskSpaceError, OfflineError, Cancelled: see ``_errors.py`` for the exit codes.
        """
        return self.install(reference, **options).model_path

    async def download_model(
        self,
        reference: str,
        provider: str = "hf",
        *,
        progress: ProgressCallback | None = None,
        update: bool = False,
    ) -> Path:
        """Async twin of ``pull``; an installed model returns at once without the network.

        Args:
            reference: a reference or alias. provider: only ``"hf"``.
            progress: DownloadProgress events. update: ask the Hub for a newer commit.
        Returns:
            The path a worker loads.
        Raises:
            UsageError: another provider. Otherwise as ``pull``; cancelling the task stops
            the download at a resumable point.
        """
        import asyncio

        ref = self._with_provider(reference, provider)
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        call = functools.partial(
            self.install, ref.canonical, update=update, progress=progress, cancel=cancel
        )
        future = loop.run_in_executor(None, call)
        try:
            info = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()
            await asyncio.wait([future])
            raise
        return info.model_path

    async def download_events(
        self, reference: str, *, update: bool = True
    ) -> AsyncIterator[DownloadProgress]:
        """Progress of a pull as an async iterator; ends after the terminal event.

        Args:
            reference: a reference or alias. update: as for ``pull``.
        Yields:
            DownloadProgress events, the last one terminal.
        Raises:
            as ``pull``, from the iteration.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[DownloadProgress | BaseException] = asyncio.Queue()

        def push(event: DownloadProgress | BaseException) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        cancel = threading.Event()

        def run() -> None:
            try:
                self.install(reference, update=update, progress=push, cancel=cancel)
            except BaseException as exc:
                push(exc)

        worker = loop.run_in_executor(None, run)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.stage.terminal:
                    return
        finally:
            cancel.set()
            await asyncio.wait([worker])

    def _with_provider(self, reference: str, provider: str) -> ModelReference:
        ref = self.parse(reference)
        if provider != ref.provider:
            raise UsageError(f"unknown provider {provider!r}: only 'hf' is supported")
        return ref

    def _downloader(self) -> Downloader:
        from dataclasses import replace

        from ._download import Downloader
        from ._transfer import TransferOptions

        options = self._transfer_options or TransferOptions()
        connections = self._max_connections
        if connections is None and self._transfer_options is None:
            connections = self.config.max_connections
        if connections is not None:
            options = replace(options, max_connections=connections)
        options = replace(options, limiter=self.limiter)
        return Downloader(self._store, self._settings(), options, budget=self.budget)

    @property
    def max_connections(self) -> int | None:
        """Connections per pull set on this object (``--max-connections``), beating the
        config file and the ``transfer`` argument's; None: theirs."""
        return self._max_connections

    @max_connections.setter
    def max_connections(self, connections: int | None) -> None:
        self._max_connections = connections

    @property
    def mirror(self) -> Mirror:
        """The store as a read-only Hub (the service's mirror routes); reads manifests on
        every call, so a pull or delete elsewhere is seen at once."""
        from ._mirror import Mirror

        return Mirror(self._store)

    @property
    def budget(self) -> int | None:
        """The store's size cap (config ``budget``, $PROVISIONER_BUDGET, or the argument)."""
        return self._budget or self.config.budget

    @budget.setter
    def budget(self, size: int | None) -> None:
        self._budget = size

    def _settings(self) -> HubSettings:
        """The endpoint: argument, else $HF_ENDPOINT, else the config file, else the Hub."""
        from ._hub import HubSettings

        return HubSettings.from_env(self._endpoint or self.config.endpoint, self._token)


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return Path(value).expanduser() if value is not None else None
