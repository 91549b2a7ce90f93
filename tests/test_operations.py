"""The original Rust module's behaviours, carried over, and its known defects, fixed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model_provisioner import (
    IntegrityError,
    InvalidReference,
    ModelNotFound,
    ModelProvisioner,
)
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

REPO = "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"


@pytest.fixture
def prov(home: Path, hub_server: HubServer, fixture_hub: FixtureHub) -> ModelProvisioner:
    make_gguf_repo(fixture_hub, REPO, stem="tinyllama-1.1b-chat-v1.0")
    return ModelProvisioner(home, endpoint=hub_server.url)


def writable(path: Path) -> Path:
    """Blobs are read-only; a test that damages one must first allow itself to."""
    os.chmod(path, 0o644)
    return path


def test_empty_or_missing_base_dir_lists_nothing(tmp_path: Path) -> None:
    assert ModelProvisioner(tmp_path / "missing").list_models() == []
    assert ModelProvisioner(tmp_path).list_models() == []
    assert ModelProvisioner(tmp_path / "missing").get_total_disk_usage() == 0
    assert ModelProvisioner(tmp_path / "missing").find_local_model("org/repo") is None


def test_non_model_files_are_ignored(home: Path) -> None:
    (home / "models" / "hf" / "org" / "repo").mkdir(parents=True)
    (home / "models" / "hf" / "org" / "repo" / "notes.txt").write_text("x")
    (home / "manifests" / "hf" / "org" / "repo").mkdir(parents=True)
    (home / "manifests" / "hf" / "org" / "repo" / "README").write_text("x")
    (home / "stray.gguf").write_bytes(b"GGUF")
    assert ModelProvisioner(home).list_models() == []


def test_info_counts_and_sizes(prov: ModelProvisioner) -> None:
    prov.pull(f"{REPO}:Q8_0")
    info = prov.get_model_info(f"{REPO}:Q8_0")
    assert info.file_count == 1 and info.gguf_files == ["tinyllama-1.1b-chat-v1.0.Q8_0.gguf"]
    assert info.total_size == info.model_path.stat().st_size
    assert prov.get_model_size(info.model_path) == info.total_size
    assert prov.get_model_size(info.model_path.parent) == info.total_size
    assert prov.get_total_disk_usage() >= info.total_size


def test_disk_usage_counts_shared_content_once(
    prov: ModelProvisioner, fixture_hub: FixtureHub
) -> None:
    original = prov.pull(f"{REPO}:Q4_K_M")
    once = prov.get_total_disk_usage()
    fixture_hub.add_commit("Mirror/Copy-GGUF", {"copy.Q4_K_M.gguf": original})
    copy = prov.pull("Mirror/Copy-GGUF")
    assert len(prov.list_models()) == 2 and copy.stat().st_ino == original.stat().st_ino
    assert prov.get_total_disk_usage() == once
    prov.delete_model(REPO)
    assert copy.read_bytes()[:4] == b"GGUF" and prov.verify_model("Mirror/Copy-GGUF").ok


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: p.unlink(), "missing"),
        (lambda p: writable(p).write_bytes(b""), "size 0"),
        (lambda p: writable(p).write_bytes(b"XXXX" + p.read_bytes()[4:]), "not a GGUF file"),
        (lambda p: _flip_last_byte(writable(p)), "sha256 mismatch"),
    ],
    ids=["missing", "empty", "bad-magic", "corrupt"],
)
def test_verify_reports_damage_file_by_file_and_deletes_nothing(
    prov: ModelProvisioner, damage: object, problem: str
) -> None:
    path = prov.pull(REPO)
    assert callable(damage)
    damage(path)
    with pytest.raises(IntegrityError) as err:
        prov.verify_model(REPO)
    assert err.value.exit_code == 4
    assert any(problem in p and path.name in p for p in err.value.problems)
    assert [m.reference for m in prov.list_models()] == [f"hf:{REPO}"]


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_delete_of_missing_model_is_an_error(prov: ModelProvisioner) -> None:
    with pytest.raises(ModelNotFound):
        prov.delete_model(REPO)


@pytest.mark.parametrize("bad", ["", " ", "..", "org/..", "../..", "/", "/srv/models", "org/*"])
def test_hostile_delete_is_refused_and_touches_nothing(
    prov: ModelProvisioner, home: Path, bad: str
) -> None:
    path = prov.pull(REPO)
    before = sorted(p for p in home.rglob("*"))
    with pytest.raises(InvalidReference):
        prov.delete_model(bad)
    assert sorted(p for p in home.rglob("*")) == before and path.exists()


def test_unknown_alias_never_becomes_a_default_model(prov: ModelProvisioner) -> None:
    with pytest.raises(InvalidReference, match="unknown model alias"):
        prov.pull("no-such-model")
    assert prov.list_models() == []


def test_find_info_verify_delete_agree_on_where_a_model_lives(prov: ModelProvisioner) -> None:
    path = prov.pull(f"{REPO}:Q8_0")
    for spelling in (
        f"{REPO}:Q8_0",
        f"hf:{REPO.lower()}:q8_0",
        f"https://huggingface.co/{REPO}/resolve/main/tinyllama-1.1b-chat-v1.0.Q8_0.gguf",
    ):
        assert prov.find_local_model(spelling) == path
        assert prov.get_model_info(spelling).model_path == path
        assert prov.verify_model(spelling).ok
    prov.delete_model(f"hf.co/{REPO.lower()}:Q8_0")
    assert prov.find_local_model(f"{REPO}:Q8_0") is None and not path.exists()


def test_aliases_come_from_an_editable_file(prov: ModelProvisioner, home: Path) -> None:
    (home / "aliases.toml").write_text(f'tiny = "hf:{REPO}:Q8_0"\n')
    assert prov.pull("tiny").name.endswith("Q8_0.gguf")
    with pytest.raises(InvalidReference, match="known aliases: tiny"):
        prov.parse("tinyllama")


def test_gc_removes_what_a_crash_left_and_keeps_installed_models(
    prov: ModelProvisioner, home: Path
) -> None:
    kept = prov.pull(f"{REPO}:Q4_K_M")
    crashed = prov.install(f"{REPO}:Q8_0")
    (manifest,) = (home / "manifests").rglob("Q8_0.json")
    manifest.unlink()  # the state after a crash just before the manifest was written
    stale = home / "partial" / ("0" * 64 + ".part")
    stale.write_bytes(b"x" * 10)
    os.utime(stale, (0, 0))

    assert prov.collect_garbage(older_than=3600) == [stale]
    would = {p.name for p in prov.collect_garbage(older_than=0, dry_run=True)}
    assert {crashed.files[0].sha256, crashed.model_path.name} <= would
    assert {n for n in would if not n.endswith(".part.lock")} == {
        crashed.files[0].sha256,
        crashed.model_path.name,
    }
    assert crashed.model_path.exists()
    prov.collect_garbage(older_than=0)
    assert not crashed.model_path.exists()
    assert kept.exists() and prov.verify_model(f"{REPO}:Q4_K_M").ok
    assert prov.collect_garbage(older_than=0) == []
