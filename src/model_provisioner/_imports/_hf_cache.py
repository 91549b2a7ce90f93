"""A huggingface_hub cache as import candidates (also what current llama.cpp writes).

Layout (read by huggingface_hub's own ``scan_cache_dir``): ``models--ORG--NAME/`` holding
``blobs/<etag>``, ``snapshots/<commit>/<path>`` (symlinks into ``../../blobs``) and
``refs/<revision>`` (a commit). A blob's name is the file's LFS sha256, or the git blob sha1 of a
small file: both are checked against the bytes before anything enters the store. A snapshot file
whose link leads anywhere but its repo's ``blobs/`` folder is refused.
"""

from __future__ import annotations

import stat
from pathlib import Path

from .._errors import IntegrityError, InvalidReference, ModelNotFound, UsageError
from .._names import is_git_sha1, is_sha256
from .._references import ModelReference, parse_reference
from .._selection import select_files
from .._store import safe_relpath
from ._adopt import Candidate, Skipped, SourceFile
from ._entries import PlannedEntry, plan_entries

_MAX_REF = 4096


def hf_cache_candidates(
    cache: Path, want: ModelReference | None = None
) -> tuple[list[Candidate], list[Skipped]]:
    """Every model repo and revision in ``cache`` (or only what ``want`` names)."""
    from huggingface_hub import CacheNotFound, scan_cache_dir

    cache = cache.absolute()
    _check_refs(cache)
    try:
        scanned = scan_cache_dir(cache)
    except CacheNotFound as exc:
        raise ModelNotFound(f"no huggingface_hub cache at {cache}") from exc
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the huggingface_hub cache at {cache}: {exc}") from exc
    # Files beside the repos (CACHEDIR.TAG, llama.cpp's flat files) are not models left out.
    warnings = [w for w in scanned.warnings if "models--" in str(w)]
    skipped = [Skipped(str(cache), f"skipped: {w}") for w in warnings]
    candidates: list[Candidate] = []
    for repo in sorted(scanned.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        try:
            repo_id = parse_reference(f"hf:{repo.repo_id}").repo
        except InvalidReference:
            skipped.append(Skipped(str(repo.repo_path), "skipped: not a valid repository name"))
            continue
        if want is not None and repo_id.casefold() != want.repo.casefold():
            continue
        for revision in sorted(repo.revisions, key=lambda r: r.commit_hash):
            found, problems = _revision(repo.repo_path, repo_id, revision, want)
            candidates += found
            skipped += problems
    return candidates, skipped


def _check_refs(cache: Path) -> None:
    """``scan_cache_dir`` reads every ref whole: a ref that is a pipe, a device or a link to
    one would hang it, so refs must be small regular files before it runs."""
    for ref in cache.glob("*/refs/**/*"):
        st = ref.lstat()
        if stat.S_ISDIR(st.st_mode):
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_REF:
            raise UsageError(f"refusing the cache at {cache}: {ref} is not a commit file")


def _revision(
    repo_path: Path, repo_id: str, revision: object, want: ModelReference | None
) -> tuple[list[Candidate], list[Skipped]]:
    from huggingface_hub import CachedRevisionInfo

    assert isinstance(revision, CachedRevisionInfo)
    commit = revision.commit_hash
    snapshot = revision.snapshot_path
    if not is_git_sha1(commit):
        return [], [Skipped(str(snapshot), "skipped: the folder name is not a commit hash")]
    names = sorted(r for r in revision.refs if _valid_revision(r)) or [commit]
    if want is not None:
        names = [n for n in names if want.revision in (n, commit)]
    files: dict[str, SourceFile] = {}
    skipped = []
    for cached in sorted(revision.files, key=lambda f: str(f.file_path)):
        source, problem = _source_file(repo_path, snapshot, cached.file_path, cached.blob_path)
        if source is None:
            skipped.append(Skipped(str(cached.file_path), f"skipped: {problem}"))
        else:
            files[source.path] = source
    candidates = []
    for name in names:
        base = ModelReference(repo_id, name)
        planned, problems = _plan(sorted(files), base, want)
        skipped += [Skipped(f"{repo_id}@{name}", f"skipped: {p}") for p in problems]
        for entry in planned:
            chosen = tuple(files[p] for p in entry.selection.paths)
            candidates.append(Candidate(entry.ref, entry.selection, chosen, commit, str(snapshot)))
    return candidates, skipped


def _plan(
    paths: list[str], base: ModelReference, want: ModelReference | None
) -> tuple[list[PlannedEntry], list[str]]:
    if want is None or want.selector is None:
        return plan_entries(paths, base)
    ref = ModelReference(base.repo, base.revision, want.selector)
    try:
        return [PlannedEntry(ref, select_files(paths, ref))], []
    except ModelNotFound as exc:
        return [], [exc.message]


def _valid_revision(name: str) -> bool:
    try:
        parse_reference(f"hf:a/b@{name}")
    except InvalidReference:
        return False
    return True


def _source_file(
    repo_path: Path, snapshot: Path, file_path: Path, blob_path: Path
) -> tuple[SourceFile | None, str]:
    """The blob behind a snapshot file, if it is one of this repo's blobs with a hash name."""
    try:
        path = safe_relpath(file_path.relative_to(snapshot).as_posix())
    except (ValueError, IntegrityError):
        return None, "not a usable path inside the snapshot"
    blobs = repo_path / "blobs"
    if file_path.is_symlink():
        if blob_path.parent != blobs:
            return None, "its link leads outside the cache's blobs folder"
        name = blob_path.name
    else:
        name = ""  # a real file in the snapshot (no-symlink mode): hashed, no name to check
        blob_path = file_path
    if is_sha256(name):
        return SourceFile(path, blob_path, sha256=name), ""
    if is_git_sha1(name):
        return SourceFile(path, blob_path, git_sha1=name), ""
    if name:
        return None, f"blob name {name[:20]!r} is not a sha256 or git blob id"
    return SourceFile(path, blob_path), ""
