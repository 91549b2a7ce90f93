"""Store layout: content-addressed blobs, hard-linked folders, atomic manifests, safe paths."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from model_provisioner import IntegrityError, ModelFile, ModelInfo, parse_reference
from model_provisioner._store import (
    Store,
    journal_of,
    lock_of,
    partial_of,
    safe_relpath,
    temp_of,
)


def put_blob(store: Store, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    tmp = store.partial / f"{sha}.part"
    tmp.write_bytes(data)
    store.commit_blob(tmp, sha)
    return sha


def entry(store: Store, ref: str, commit: str, files: dict[str, str]) -> ModelInfo:
    r = parse_reference(ref)
    folder = store.model_dir("hf", r.repo, commit)
    info = ModelInfo(
        reference=r.canonical,
        repo=r.repo,
        revision=r.revision,
        selector=r.selector,
        commit=commit,
        format="gguf",
        model_path=folder,
        files=[ModelFile(p, store.blob_path(s).stat().st_size, s) for p, s in files.items()],
        downloaded_at="2026-01-01T00:00:00+00:00",
    )
    for p, s in files.items():
        store.link_file(s, "hf", r.repo, commit, p)
    store.write_manifest(info, r)
    return info


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "home")
    s.ensure()
    return s


def test_blob_is_named_by_hash_and_read_only(store: Store) -> None:
    sha = put_blob(store, b"hello")
    blob = store.blob_path(sha)
    assert blob.parent.name == sha[:2] and blob.read_bytes() == b"hello"
    assert not os.access(blob, os.W_OK) or os.geteuid() == 0
    assert blob.stat().st_mode & 0o222 == 0
    assert store.has_blob(sha, 5) and not store.has_blob(sha, 6)


def test_model_files_are_hard_links_and_shared_blobs_survive_delete(store: Store) -> None:
    shared = put_blob(store, b"x" * 100)
    own = put_blob(store, b"y" * 50)
    a = entry(store, "org/repo:Q4_K_M", "c" * 40, {"a.gguf": shared})
    entry(store, "org/repo:Q8_0", "c" * 40, {"a.gguf": shared, "b.gguf": own})
    linked = store.model_dir("hf", "org/repo", "c" * 40) / "a.gguf"
    assert linked.stat().st_ino == store.blob_path(shared).stat().st_ino
    assert store.blob_path(shared).stat().st_nlink == 2
    ((path_a, _),) = [m for m in store.manifests_of("hf", "ORG/Repo") if m[1].selector == "Q4_K_M"]
    store.remove_manifest(path_a)
    store.release(a, {("c" * 40, "a.gguf"), ("c" * 40, "b.gguf")})
    assert linked.exists() and store.blob_path(shared).exists()


def test_release_collects_blobs_nothing_uses(store: Store) -> None:
    sha = put_blob(store, b"z" * 10)
    info = entry(store, "org/solo", "d" * 40, {"m.gguf": sha})
    store.release(info, set())
    assert not store.blob_path(sha).exists()
    assert not store.model_dir("hf", "org/solo", "d" * 40).exists()


def test_two_orgs_with_one_repo_name_never_collide(store: Store) -> None:
    one = put_blob(store, b"one")
    two = put_blob(store, b"two")
    entry(store, "alice/model", "a" * 40, {"m.gguf": one})
    entry(store, "bob/model", "a" * 40, {"m.gguf": two})
    assert len(list(store.manifests_of("hf", "alice/model"))) == 1
    assert (store.model_dir("hf", "bob/model", "a" * 40) / "m.gguf").read_bytes() == b"two"


def test_manifests_are_found_without_case(store: Store) -> None:
    entry(store, "TheBloke/Model-GGUF", "e" * 40, {"m.gguf": put_blob(store, b"m")})
    assert [i.repo for _, i in store.manifests_of("hf", "thebloke/model-gguf")] == [
        "TheBloke/Model-GGUF"
    ]


def test_a_torn_manifest_is_not_listed(store: Store) -> None:
    entry(store, "org/ok", "f" * 40, {"m.gguf": put_blob(store, b"ok")})
    torn = store.manifests / "hf" / "org" / "torn" / "default.json"
    torn.parent.mkdir(parents=True)
    torn.write_text('{"reference": "hf:org/torn", "repo"')
    assert [i.repo for _, i in store.all_manifests()] == ["org/ok"]


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "a/../../b", "a//b", "", ".", "a\\b", "C:/x", "a/\x00"]
)
def test_hostile_listing_paths_are_refused(path: str) -> None:
    with pytest.raises(IntegrityError, match="outside the repository"):
        safe_relpath(path)


def test_partial_names_come_from_one_place(tmp_path: Path) -> None:
    """The engine, gc and pull all ask the store; every companion file maps to its partial."""
    store = Store(tmp_path)
    lfs = store.partial_path("a" * 64, "b" * 40)
    small = store.partial_path(None, "b" * 40)
    assert lfs.name == "a" * 64 + ".part" and small.name == "git-" + "b" * 40 + ".part"
    for partial in (lfs, small):
        for companion in (partial, journal_of(partial), lock_of(partial), temp_of(partial)):
            assert partial_of(companion) == partial
    assert partial_of(temp_of(journal_of(lfs))) == lfs
    for other in ("reservations", ".lock", "x.json", ".part", ".x.tmp"):
        assert partial_of(store.partial / other) is None
    for bad in (("../" + "a" * 62, None), (None, "../x"), (None, None), ("A" * 64, None)):
        with pytest.raises(IntegrityError):
            store.partial_path(*bad)
