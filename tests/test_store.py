"""Store layout: content-addressed blobs, hard-linked folders, atomic manifests, safe paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner import IntegrityError, parse_reference
from model_provisioner._store import (
    Store,
    journal_of,
    lock_of,
    partial_of,
    safe_relpath,
    temp_of,
)
from tests.store_builders import entry, put_blob


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
    with pytest.raises(
        IntegrityError,
        match=r"^a file path (outside the repository|with no name|with control characters): ",
    ):
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


# -- every path the store builds stays under the home ---------------------------------------------

HOSTILE_REPOS = [
    "../x",
    "org/../..",
    "org/..",
    "a/b/c",
    "org",
    "/etc/passwd",
    "org/na me",
    "o\x00/n",
]
HOSTILE_COMMITS = ["../../../../tmp/x", "A" * 40, "a" * 39, "a" * 41, "", "g" * 40, "a" * 39 + "/"]


@pytest.mark.parametrize("repo", HOSTILE_REPOS)
def test_hostile_repo_ids_never_become_paths(store: Store, repo: str, tmp_path: Path) -> None:
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(IntegrityError, match="not a repository id"):
        store.model_dir("hf", repo, "a" * 40)
    with pytest.raises(IntegrityError, match="not a repository id"):
        store.manifest_path(parse_reference("org/ok"), repo)
    sha = put_blob(store, b"x")
    with pytest.raises(IntegrityError):
        store.link_file(sha, "hf", repo, "a" * 40, "m.gguf")
    assert sorted(tmp_path.rglob("*")) == sorted({*before, *tmp_path.joinpath("home").rglob("*")})
    assert not any((tmp_path / "x").parent.glob("x*"))


@pytest.mark.parametrize("commit", HOSTILE_COMMITS)
def test_hostile_commits_and_providers_never_become_paths(store: Store, commit: str) -> None:
    with pytest.raises(IntegrityError, match="not a commit sha"):
        store.model_dir("hf", "org/repo", commit)
    with pytest.raises(IntegrityError, match="unknown provider"):
        store.model_dir("..", "org/repo", "a" * 40)
    with pytest.raises(IntegrityError, match="not a sha256"):
        store.blob_path(commit)


def test_a_symlink_planted_in_the_store_cannot_redirect_a_write(
    store: Store, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.models / "hf").mkdir(parents=True)
    (store.models / "hf" / "org").symlink_to(outside, target_is_directory=True)
    sha = put_blob(store, b"payload")
    with pytest.raises(IntegrityError, match="leaves the store"):
        store.link_file(sha, "hf", "org/repo", "a" * 40, "m.gguf")
    (store.manifests / "hf").mkdir(parents=True)
    (store.manifests / "hf" / "org").symlink_to(outside, target_is_directory=True)
    with pytest.raises(IntegrityError, match="leaves the store"):
        store.manifest_path(parse_reference("org/repo"), "org/repo")
    assert list(outside.rglob("*")) == []


def test_a_home_behind_a_symlink_still_works(tmp_path: Path) -> None:
    real = tmp_path / "disk"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    store = Store(tmp_path / "link")
    store.ensure()
    info = entry(store, "org/repo", "a" * 40, {"m.gguf": put_blob(store, b"m")})
    assert store.entry_problems(info) == []
    assert (real / "models" / "hf" / "org" / "repo" / ("a" * 40) / "m.gguf").read_bytes() == b"m"


# -- blobs that are not what they claim ------------------------------------------------------------


def test_a_blob_that_is_a_symlink_or_folder_is_not_a_blob(store: Store, tmp_path: Path) -> None:
    sha = put_blob(store, b"real")
    target = tmp_path / "elsewhere"
    target.write_bytes(b"real")
    blob = store.blob_path(sha)
    blob.unlink()
    blob.symlink_to(target)
    assert not store.has_blob(sha, 4) and store.blob_stat(sha) is None
    blob.unlink()
    blob.mkdir()
    assert not store.has_blob(sha, 4)


def test_quarantine_moves_a_blob_aside_and_every_entry_sharing_it_reads_as_damaged(
    store: Store,
) -> None:
    sha = put_blob(store, b"shared bytes")
    a = entry(store, "org/a", "a" * 40, {"m.gguf": sha})
    b = entry(store, "org/b", "b" * 40, {"n.gguf": sha})
    assert store.entry_problems(a) == store.entry_problems(b) == []
    moved = store.quarantine_blob(sha)
    assert moved is not None and moved.parent == store.quarantine and moved.read_bytes()
    assert not store.has_blob(sha, 12)
    assert store.entry_problems(a) == ["m.gguf: its blob is missing or quarantined"]
    assert store.entry_problems(b) == ["n.gguf: its blob is missing or quarantined"]
    assert store.quarantine_blob(sha) is None


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p, t: p.unlink(), "missing"),
        (lambda p, t: (p.unlink(), p.symlink_to(t)), "not a regular file"),
        (lambda p, t: (p.unlink(), p.mkdir()), "not a regular file"),
        (lambda p, t: (p.unlink(), p.write_bytes(b"other bytes!")), "not the stored blob"),
        (lambda p, t: (p.unlink(), p.write_bytes(b"short")), "size 5, expected 12"),
    ],
    ids=["deleted", "symlink", "folder", "other-inode", "other-size"],
)
def test_entry_problems_see_damage_by_stat_alone(
    store: Store, tmp_path: Path, damage: object, problem: str
) -> None:
    sha = put_blob(store, b"model bytes!")
    info = entry(store, "org/a", "a" * 40, {"m.gguf": sha})
    entry(store, "org/b", "b" * 40, {"m.gguf": sha})  # a second link: hard links work here
    target = tmp_path / "target"
    target.write_bytes(b"model bytes!")
    assert callable(damage)
    damage(store.model_file(info, info.files[0]), target)
    assert store.entry_problems(info) == [f"m.gguf: {problem}"]
    store.link_file(sha, "hf", "org/a", "a" * 40, "m.gguf")  # relinking repairs a link
    assert store.entry_problems(info) == []


NAME_TEXT = st.text(alphabet="ab/.\\-_:@\x00 ~%", max_size=24)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(repo=NAME_TEXT, commit=st.one_of(NAME_TEXT, st.just("a" * 40)), path=NAME_TEXT)
def test_any_name_is_refused_or_lands_under_the_home(
    store: Store, repo: str, commit: str, path: str
) -> None:
    """Whatever a server or a manifest says, the store builds a path under its folder or
    raises IntegrityError; nothing else escapes."""
    try:
        folder = store.model_dir("hf", repo, commit)
        target = folder / safe_relpath(path)
    except IntegrityError:
        return
    assert os.path.realpath(target).startswith(os.path.realpath(store.models) + os.sep)
    assert folder.relative_to(store.models).parts == ("hf", *repo.split("/"), commit)


def test_a_file_where_a_folder_belongs_is_moved_aside_when_relinking(store: Store) -> None:
    sha = put_blob(store, b"nested")
    info = entry(store, "org/n", "a" * 40, {"sub/deep/m.gguf": sha})
    sub = store.model_dir("hf", "org/n", "a" * 40) / "sub"
    shutil.rmtree(sub)
    sub.write_bytes(b"in the way")
    assert store.entry_problems(info) == ["sub/deep/m.gguf: missing"]
    store.link_file(sha, "hf", "org/n", "a" * 40, "sub/deep/m.gguf")
    assert store.entry_problems(info) == []
    assert [p.read_bytes() for p in store.quarantine.iterdir()] == [b"in the way"]
