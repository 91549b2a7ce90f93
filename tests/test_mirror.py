"""The store read as a Hub mirror (library side; the HTTP routes are in test_server_mirror.py):
revisions resolve to installed commits, only whole blobs are offered, git ids are the Hub's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from model_provisioner._errors import EntryNotFound, RepoNotFound, RevisionNotFound
from model_provisioner._mirror import Mirror, lfs_pointer
from model_provisioner._store import Store

from .store_builders import entry, put_blob

_COMMIT = "d" * 40


def _mirror(tmp_path: Path) -> tuple[Store, Mirror, str]:
    store = Store(tmp_path / "home")
    store.ensure()
    model = put_blob(store, b"GGUF" + b"\0" * 100)
    readme = put_blob(store, b"# hello\n")
    entry(store, "org/m:Q4_K_M", _COMMIT, {"sub/m-Q4_K_M.gguf": model, "README.md": readme})
    return store, Mirror(store), model


def test_a_snapshot_by_revision_or_commit_lists_the_stored_files(tmp_path: Path) -> None:
    _store, mirror, model = _mirror(tmp_path)
    snap = mirror.snapshot("org/m", "main")
    assert snap == mirror.snapshot("org/m", _COMMIT)
    assert snap.commit == _COMMIT and snap.revisions == (_COMMIT, "main")
    assert sorted(snap.files) == ["README.md", "sub/m-Q4_K_M.gguf"]
    assert snap.folders() == {"sub"}
    info = snap.info_json()
    assert info["sha"] == _COMMIT and info["tags"] == ["gguf"]
    assert [s["rfilename"] for s in info["siblings"]] == ["README.md", "sub/m-Q4_K_M.gguf"]
    assert [i["path"] for i in snap.tree_json("", recursive=False)] == ["README.md", "sub"]
    assert [i["path"] for i in snap.tree_json("", recursive=True)] == [
        "README.md",
        "sub",
        "sub/m-Q4_K_M.gguf",
    ]
    assert snap.file("sub/m-Q4_K_M.gguf").sha256 == model
    with pytest.raises(EntryNotFound):
        snap.tree_json("nope", recursive=False)


def test_git_ids_are_what_git_computes(tmp_path: Path) -> None:
    _store, mirror, _model = _mirror(tmp_path)
    readme = mirror.snapshot("org/m", "main").file("README.md")
    git = subprocess.run(
        ["git", "hash-object", "--stdin"], input=b"# hello\n", capture_output=True, check=True
    )
    assert readme.git_oid == git.stdout.decode().strip()
    assert readme.etag == f'"{readme.git_oid}"'
    assert lfs_pointer("a" * 64, 5).startswith(b"version https://git-lfs.github.com/spec/v1\n")


def test_unknown_repos_revisions_and_files_are_not_found(tmp_path: Path) -> None:
    _store, mirror, _model = _mirror(tmp_path)
    with pytest.raises(RepoNotFound):
        mirror.snapshot("org/other", "main")
    with pytest.raises(RevisionNotFound):
        mirror.snapshot("org/m", "v2")
    with pytest.raises(EntryNotFound):
        mirror.snapshot("org/m", "main").file("missing.gguf")
    assert mirror.split_revision("org/m", "main/sub/m-Q4_K_M.gguf") == ("main", "sub/m-Q4_K_M.gguf")
    assert mirror.split_revision("org/m", "refs/pr/1/x") == ("refs", "pr/1/x")


def test_a_damaged_blob_is_not_offered(tmp_path: Path) -> None:
    store, mirror, model = _mirror(tmp_path)
    snap = mirror.snapshot("org/m", "main")
    assert mirror.file_path(snap, "sub/m-Q4_K_M.gguf") == store.blob_path(model)
    blob = store.blob_path(model)
    blob.chmod(0o644)
    with open(blob, "ab") as f:
        f.write(b"extra")
    with pytest.raises(EntryNotFound, match="no whole"):
        mirror.file_path(snap, "sub/m-Q4_K_M.gguf")
    assert "sub/m-Q4_K_M.gguf" not in mirror.snapshot("org/m", "main").files
