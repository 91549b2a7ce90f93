"""Pulling over real HTTP on loopback from the fixture Hub: selection, updates, failures."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from model_provisioner import (
    AuthError,
    DownloadProgress,
    IntegrityError,
    ModelNotFound,
    ModelProvisioner,
    OfflineError,
    Stage,
)
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo, make_safetensors_repo, make_split_gguf_repo, minilm_dir

REPO = "TheOrg/Tiny-GGUF"


@pytest.fixture
def gguf_commit(fixture_hub: FixtureHub) -> str:
    return make_gguf_repo(fixture_hub, REPO)


@pytest.fixture
def prov(home: Path, hub_server: HubServer) -> ModelProvisioner:
    return ModelProvisioner(home, endpoint=hub_server.url)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pull_default_quant_then_find_info_verify_delete(
    prov: ModelProvisioner, gguf_commit: str, fixture_hub: FixtureHub
) -> None:
    events: list[DownloadProgress] = []
    path = prov.pull("theorg/tiny-gguf", progress=events.append)
    assert path.name == "tiny.Q4_K_M.gguf" and path.is_file()
    source = fixture_hub.file_path(REPO, gguf_commit, "tiny.Q4_K_M.gguf")
    assert path.read_bytes() == source.read_bytes()
    assert events[0].stage is Stage.RESOLVING and events[-1].stage is Stage.COMPLETE
    assert events[-1].path == str(path)

    info = prov.get_model_info("TheOrg/Tiny-GGUF")
    assert info.repo == REPO and info.commit == gguf_commit and info.format == "gguf"
    assert info.file_count == 1 and info.total_size == source.stat().st_size
    assert info.files[0].sha256 == sha256(source)
    assert prov.find_local_model("theorg/tiny-gguf") == path
    assert prov.find_local_model("theorg/tiny-gguf:q4_k_m") == path
    assert prov.find_local_model("theorg/tiny-gguf:Q8_0") is None
    assert prov.verify_model("theorg/tiny-gguf").ok

    prov.delete_model("theorg/tiny-gguf")
    assert prov.list_models() == [] and not path.exists()
    assert prov.get_total_disk_usage() == 0
    with pytest.raises(ModelNotFound):
        prov.delete_model("theorg/tiny-gguf")


def test_two_quantizations_are_two_entries_sharing_the_repo_folder(
    prov: ModelProvisioner, gguf_commit: str
) -> None:
    q4 = prov.pull(f"{REPO}:Q4_K_M")
    q8 = prov.pull(f"{REPO}:Q8_0")
    assert q4.parent == q8.parent and q4 != q8
    assert sorted(m.reference for m in prov.list_models()) == [
        f"hf:{REPO}:Q4_K_M",
        f"hf:{REPO}:Q8_0",
    ]
    prov.delete_model(f"{REPO}:Q8_0")
    assert q4.exists() and not q8.exists()
    assert prov.verify_model(f"{REPO}:Q4_K_M").ok


def test_second_pull_of_same_commit_fetches_nothing(
    prov: ModelProvisioner, gguf_commit: str, hub_server: HubServer
) -> None:
    prov.pull(REPO)
    hub_server.clear_log()
    prov.pull(REPO)
    assert [r for r in hub_server.log() if "/resolve/" in r.path] == []
    assert sum(1 for r in hub_server.log() if r.path.startswith("/api/")) == 1


@pytest.mark.asyncio
async def test_download_model_of_installed_entry_makes_no_request(
    prov: ModelProvisioner, gguf_commit: str, hub_server: HubServer
) -> None:
    first = await prov.download_model(REPO, "hf")
    hub_server.clear_log()
    assert await prov.download_model(REPO, "hf") == first
    assert hub_server.log() == []


def test_moved_branch_fetches_only_changed_files_and_releases_the_old(
    prov: ModelProvisioner, fixture_hub: FixtureHub, hub_server: HubServer, tmp_path: Path
) -> None:
    make_safetensors_repo(fixture_hub, "st/minilm")
    old = prov.install("st/minilm")
    changed = dataclasses.replace(old.metadata)
    fixture_hub.add_commit("st/minilm", {"config.json": b'{"model_type": "bert", "v": 2}'})
    hub_server.clear_log()
    new = prov.install("st/minilm")
    assert new.commit != old.commit
    fetched = {r.path.rsplit("/", 1)[-1] for r in hub_server.log() if "/resolve/" in r.path}
    assert fetched == {"config.json"}
    assert (new.model_path / "config.json").read_bytes() == b'{"model_type": "bert", "v": 2}'
    assert not old.model_path.exists()
    assert [m.commit for m in prov.list_models()] == [new.commit]
    assert changed == old.metadata


def test_pinned_commit_never_moves(
    prov: ModelProvisioner, fixture_hub: FixtureHub, gguf_commit: str, hub_server: HubServer
) -> None:
    prov.pull(f"{REPO}@{gguf_commit}:Q8_0")
    fixture_hub.add_commit(REPO, {"README.md": b"moved on"})
    hub_server.clear_log()
    prov.pull(f"{REPO}@{gguf_commit}:Q8_0")
    assert hub_server.log() == []


def test_safetensors_model_folder_with_nested_files(
    prov: ModelProvisioner, fixture_hub: FixtureHub
) -> None:
    make_safetensors_repo(fixture_hub, "sentence-transformers/all-MiniLM-L6-v2")
    folder = prov.pull("sentence-transformers/all-MiniLM-L6-v2")
    assert folder.is_dir()
    source = minilm_dir()
    for rel in ("model.safetensors", "tokenizer.json", "1_Pooling/config.json"):
        assert (folder / rel).read_bytes() == (source / rel).read_bytes()
    for dup in ("pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "onnx"):
        assert not (folder / dup).exists()
    info = prov.get_model_info("sentence-transformers/all-minilm-l6-v2")
    assert info.format == "safetensors" and info.model_path == folder


def test_split_gguf_pulls_every_part_and_loads_the_first(
    prov: ModelProvisioner, fixture_hub: FixtureHub
) -> None:
    make_split_gguf_repo(fixture_hub, "org/split-GGUF", parts=3)
    path = prov.pull("org/split-GGUF")
    assert path.name.endswith("-00001-of-00003.gguf")
    assert len(list(path.parent.glob("*-of-00003.gguf"))) == 3
    assert prov.get_model_info("org/split-GGUF").file_count == 3


def test_unknown_repo_revision_and_quant_are_not_found(
    prov: ModelProvisioner, gguf_commit: str
) -> None:
    with pytest.raises(ModelNotFound, match="not found"):
        prov.pull("org/does-not-exist")
    with pytest.raises(ModelNotFound, match="revision"):
        prov.pull(f"{REPO}@no-such-branch")
    with pytest.raises(ModelNotFound, match=r"available: Q4_K_M, Q8_0, F16\)"):
        prov.pull(f"{REPO}:Q2_K")
    assert prov.list_models() == []


def test_gated_repo_needs_a_token(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, "org/gated-GGUF", gated=True)
    with pytest.raises(AuthError, match="HF_TOKEN"):
        ModelProvisioner(home, endpoint=hub_server.url, token="wrong").pull("org/gated-GGUF")
    with_token = ModelProvisioner(home, endpoint=hub_server.url, token="hf_fixture_token")
    assert with_token.pull("org/gated-GGUF").exists()


def test_offline_mode_never_touches_the_network(
    prov: ModelProvisioner, gguf_commit: str, hub_server: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed = prov.pull(REPO)
    hub_server.clear_log()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert prov.pull(REPO) == installed
    with pytest.raises(OfflineError):
        prov.pull(f"{REPO}:Q8_0")
    assert hub_server.log() == []


def test_corrupt_bytes_never_enter_the_store_and_keep_the_old_entry(
    prov: ModelProvisioner, fixture_hub: FixtureHub, hub_server: HubServer
) -> None:
    make_safetensors_repo(fixture_hub, "st/minilm")
    old = prov.install("st/minilm")
    fixture_hub.add_commit("st/minilm", {"model.safetensors": b"\x08" + b"\0" * 7 + b"{}" * 4})
    hub_server.inject("*model.safetensors", "corrupt", times=None, offset=3, length=4)
    with pytest.raises(IntegrityError):
        prov.install("st/minilm")
    (entry,) = prov.list_models()
    assert entry.commit == old.commit
    assert prov.verify_model("st/minilm").ok


def test_hostile_listing_is_refused_and_writes_nothing(
    prov: ModelProvisioner, gguf_commit: str, hub_server: HubServer, home: Path
) -> None:
    hub_server.inject("*", "hostile_listing", times=None)
    with pytest.raises(IntegrityError, match="outside the repository"):
        prov.pull(REPO)
    assert prov.list_models() == []
    assert not (home.parent / "evil").exists()


def test_manifest_carries_parsed_metadata(prov: ModelProvisioner, fixture_hub: FixtureHub) -> None:
    make_gguf_repo(fixture_hub, REPO, context_length=4096)
    make_safetensors_repo(fixture_hub, "st/minilm")
    gguf = prov.install(f"{REPO}:Q8_0").metadata
    assert (gguf.format, gguf.architecture, gguf.quantization) == ("gguf", "llama", "Q8_0")
    assert gguf.context_length == 4096 and gguf.parameter_count and gguf.parameter_count > 0
    assert gguf.has_chat_template is True
    st = prov.install("st/minilm").metadata
    assert (st.format, st.model_type, st.vocab_size) == ("safetensors", "bert", 30522)
    assert st.parameter_count == 22_713_728  # summed from the safetensors package's shapes


@pytest.mark.asyncio
async def test_progress_as_an_async_iterator_ends_with_one_terminal_event(
    prov: ModelProvisioner, gguf_commit: str
) -> None:
    events = [event async for event in prov.download_events(f"{REPO}:F16")]
    assert events[0].stage is Stage.RESOLVING
    assert [e.stage for e in events].count(Stage.COMPLETE) == 1
    assert events[-1].stage is Stage.COMPLETE and events[-1].bytes_done == events[-1].bytes_total
    assert events[-1].path == str(prov.find_local_model(f"{REPO}:F16"))
