"""Installed models laid out as a huggingface_hub cache, made of links to the store.

``models--ORG--NAME/blobs/<etag>`` is a hard link to our blob (the etag is the LFS sha256, or the
git blob id of a small file, as huggingface_hub names them), ``snapshots/<commit>/<path>`` is a
relative symlink into ``../../blobs`` exactly as huggingface_hub makes it, and
``refs/<revision>`` holds the commit. transformers, vLLM, ``hf`` and llama.cpp then find the
models with the network off, and no byte is stored twice. Where a hard link cannot be made (the
cache on another filesystem) the blob is a symlink to the store's file instead, which
huggingface_hub also follows; a copy is never made. The export only adds: what is already there
(huggingface_hub's own downloads) is left as it is.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import IntegrityError, InvalidReference, UsageError
from ._fsutil import atomic_write, link_or_copy
from ._models import ModelFile, ModelInfo
from ._names import is_git_sha1
from ._references import parse_reference
from ._store import Store, safe_relpath


@dataclass
class ExportReport:
    cache: Path
    repos: list[str] = field(default_factory=list)
    linked: int = 0
    present: int = 0
    skipped: list[str] = field(default_factory=list)


def export_hf_cache(store: Store, cache: Path, infos: Iterable[ModelInfo]) -> ExportReport:
    """Export every ``hf:`` entry; newer entries of a revision write its ref last."""
    cache = cache.absolute()
    report = ExportReport(cache)
    for info in sorted(infos, key=lambda i: i.downloaded_at):
        if info.provider != "hf":
            continue
        try:
            _export_entry(store, cache, info, report)
        except (IntegrityError, InvalidReference) as exc:
            report.skipped.append(f"{info.reference}: {exc.message}")
    return report


def repo_folder(cache: Path, repo: str) -> Path:
    return cache / ("models--" + repo.replace("/", "--"))


def _export_entry(store: Store, cache: Path, info: ModelInfo, report: ExportReport) -> None:
    repo = parse_reference(f"hf:{info.repo}").repo
    if not is_git_sha1(info.commit):
        raise IntegrityError(f"commit {info.commit[:48]!r} is not a commit hash")
    root = _real_dir(repo_folder(cache, repo), cache)
    blobs = _real_dir(root / "blobs", cache)
    snapshot = _real_dir(root / "snapshots" / info.commit, cache)
    for f in info.files:
        etag = _etag(f)
        rel = safe_relpath(f.path)
        made = _blob(store.blob_path(f.sha256), blobs / etag)
        made |= _snapshot_link(snapshot, rel, etag)
        if made:
            report.linked += 1
        else:
            report.present += 1
    if not is_git_sha1(info.revision):
        revision = parse_reference(f"hf:{repo}@{info.revision}").revision
        ref = root / "refs" / revision
        _real_dir(ref.parent, cache)
        if _read_ref(ref) != info.commit:
            atomic_write(ref, info.commit.encode())
    if repo not in report.repos:
        report.repos.append(repo)


def _read_ref(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() if path.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None


def _etag(f: ModelFile) -> str:
    """The name huggingface_hub gives the blob: the git blob id of a small (non-LFS) file."""
    return f.git_sha1 if f.git_sha1 and not f.lfs else f.sha256


def _blob(source: Path, dest: Path) -> bool:
    """Link our blob at ``dest`` (a symlink across devices); False when a file of that name
    is already there."""
    if dest.is_symlink() or dest.exists():
        return False
    link_or_copy(source, dest, fallback=os.symlink)
    return True


def _snapshot_link(snapshot: Path, rel: str, etag: str) -> bool:
    """``snapshots/<commit>/<path>`` -> ``../../blobs/<etag>`` (one more ``..`` per folder)."""
    dest = snapshot / rel
    if dest.is_symlink() or dest.exists():
        return False
    _real_dir(dest.parent, snapshot)
    target = "../" * (2 + rel.count("/")) + f"blobs/{etag}"
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.export")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, dest)
    return True


def _real_dir(path: Path, top: Path) -> Path:
    """Create ``path`` (a folder below ``top``); refuse one that is a symlink: writing through it
    would land outside the cache."""
    current = top
    current.mkdir(parents=True, exist_ok=True)
    for part in path.relative_to(top).parts:
        current = current / part
        try:
            current.mkdir()
        except FileExistsError:
            pass
        except OSError as exc:
            raise UsageError(f"cannot create {current}: {exc.strerror}") from exc
        if not stat.S_ISDIR(current.lstat().st_mode):
            raise UsageError(f"{current} is not a folder (a link or a file): not exporting into it")
    return path
