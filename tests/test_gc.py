"""gc on a real store built by hand: what it removes, what removal frees (an inode counts once
all its links go), dry runs touch nothing, empty folders go but their tops stay."""

from __future__ import annotations

import os
from pathlib import Path

from model_provisioner._catalog import Catalog
from model_provisioner._gc import collect, freed_by, prune_empty_folders
from model_provisioner._store import Store

from .store_builders import entry, put_blob

_COMMIT = "c" * 40


def _store(tmp_path: Path) -> tuple[Store, str, str]:
    store = Store(tmp_path / "home")
    store.ensure()
    kept = put_blob(store, b"k" * 5000)
    orphan = put_blob(store, b"o" * 9000)
    entry(store, "org/kept:Q4_K_M", _COMMIT, {"kept-Q4_K_M.gguf": kept})
    return store, kept, orphan


def _files(store: Store) -> list[Path]:
    """The content: blobs, model folders and manifests (locks and caches may come and go)."""
    tops = (store.blobs, store.models, store.manifests)
    return sorted(p for top in tops for p in top.rglob("*") if p.is_file())


def test_dry_run_reports_the_orphan_and_removes_nothing(tmp_path: Path) -> None:
    store, _kept, orphan = _store(tmp_path)
    before = _files(store)
    report = collect(store, Catalog(store), 0, None, 0, dry_run=True)
    assert report.removed == [store.blob_path(orphan)]
    assert report.freed == freed_by([store.blob_path(orphan)]) > 0
    assert report.dry_run and report.fits and report.evicted == []
    assert _files(store) == before


def test_gc_removes_the_orphan_keeps_the_entry_and_reports_the_size_after(
    tmp_path: Path,
) -> None:
    store, kept, orphan = _store(tmp_path)
    report = collect(store, Catalog(store), 0, None, 0)
    assert not store.blob_path(orphan).exists()
    assert store.blob_path(kept).exists()
    assert [i.reference for i in Catalog(store).all()] == ["hf:org/kept:Q4_K_M"]
    assert report.size > 0 and report.freed > 0


def test_a_max_size_below_the_store_evicts_and_says_whether_it_fits(tmp_path: Path) -> None:
    store, kept, _orphan = _store(tmp_path)
    report = collect(store, Catalog(store), 0, 1, 0, dry_run=True)
    assert report.evicted == ["hf:org/kept:Q4_K_M"]
    assert store.blob_path(kept).exists()
    assert report.max_size == 1


def test_freed_by_counts_an_inode_once_and_only_when_every_link_goes(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.write_bytes(b"x" * 8192)
    b = tmp_path / "b"
    os.link(a, b)
    whole = a.stat().st_blocks * 512
    assert freed_by([a]) == 0  # b still holds it
    assert freed_by([a, b]) == whole
    assert freed_by([a, b, tmp_path / "gone"]) == whole


def test_prune_empty_folders_keeps_the_top_and_folders_with_files(tmp_path: Path) -> None:
    (tmp_path / "x" / "y" / "z").mkdir(parents=True)
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "file").write_bytes(b"")
    prune_empty_folders(tmp_path)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["file", "w"]
