"""HubClient against a real server: the best source wins, sources agree, other repos refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_provisioner import IntegrityError, ModelNotFound, ModelProvisioner
from model_provisioner._errors import AuthError, NetworkError
from model_provisioner._hub import HubClient, HubSettings, _sibling, _tree_item
from model_provisioner._references import parse_reference
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.hub_hostile import (
    EVIL_REPO,
    OK_REPO,
    HostileHub,
    info_field,
    siblings,
)
from tests.makers import make_gguf_repo

GGUF = "evil.Q4_K_M.gguf"


def client(url: str, token: str | None = None) -> HubClient:
    return HubClient(HubSettings(endpoint=url, token=token, timeout=2.0))


def files_of(h: HostileHub, ref: str, **kw: Any) -> dict[str, Any]:
    c = client(h.url)
    snap = c.snapshot(parse_reference(ref))
    return {f.path: f for f in c.files(snap, [f.path for f in snap.files], **kw)}


def test_model_info_gives_sizes_and_hashes(hostile: HostileHub) -> None:
    snap = client(hostile.url).snapshot(parse_reference(EVIL_REPO))
    assert snap.commit == hostile.evil_commit and snap.source == "model info"
    files = files_of(hostile, EVIL_REPO)
    entry = hostile.hub.entries(EVIL_REPO, hostile.evil_commit)[GGUF]
    assert files[GGUF].sha256 == entry.sha256 and files[GGUF].size == entry.size
    assert (
        files["README.md"].git_sha1
        == hostile.hub.entries(EVIL_REPO, snap.commit)["README.md"].git_oid
    )


def test_hashless_listing_is_completed_from_the_tree(hostile: HostileHub) -> None:
    def strip(item: dict[str, Any]) -> None:
        for key in ("size", "blobId", "lfs"):
            item.pop(key, None)

    hostile.hostility.body = lambda route, repo, body: (
        siblings(strip)(route, repo, body) if route == "model_info" else body
    )
    entry = hostile.hub.entries(EVIL_REPO, hostile.evil_commit)[GGUF]
    assert files_of(hostile, EVIL_REPO)[GGUF].sha256 == entry.sha256


def test_listing_and_tree_without_hashes_fall_back_to_head(hostile: HostileHub) -> None:
    def strip(item: dict[str, Any]) -> None:
        for key in ("size", "blobId", "lfs", "oid"):
            item.pop(key, None)

    hostile.hostility.body = siblings(strip)
    entry = hostile.hub.entries(EVIL_REPO, hostile.evil_commit)[GGUF]
    got = files_of(hostile, EVIL_REPO)[GGUF]
    assert (got.sha256, got.size) == (entry.sha256, entry.size)


def test_no_hash_anywhere_is_refused_unless_allowed(hostile: HostileHub) -> None:
    def strip(item: dict[str, Any]) -> None:
        for key in ("blobId", "lfs", "oid"):
            item.pop(key, None)

    hostile.hostility.body = siblings(strip)
    hostile.hostility.headers = lambda repo, path, h: {
        k: v for k, v in h.items() if k not in ("ETag", "X-Linked-Etag")
    }
    with pytest.raises(IntegrityError, match="no published hash covers") as caught:
        files_of(hostile, EVIL_REPO)
    assert caught.value.exit_code == 4
    got = files_of(hostile, EVIL_REPO, allow_unverified=True)[GGUF]
    assert (
        got.unverified
        and got.size == hostile.hub.entries(EVIL_REPO, hostile.evil_commit)[GGUF].size
    )


def test_a_missing_size_comes_from_content_length(hostile: HostileHub) -> None:
    def strip(item: dict[str, Any]) -> None:
        for key in ("size", "lfs"):
            item.pop(key, None)

    hostile.hostility.body = siblings(strip)
    hostile.hostility.headers = lambda repo, path, h: {
        k: v for k, v in h.items() if k != "X-Linked-Size"
    }
    files = files_of(hostile, EVIL_REPO)
    assert files[GGUF].size == hostile.hub.entries(EVIL_REPO, hostile.evil_commit)[GGUF].size


def test_sources_that_disagree_are_an_integrity_error(hostile: HostileHub) -> None:
    def strip(item: dict[str, Any]) -> None:
        item.pop("lfs", None)
        item.pop("blobId", None)
        item.pop("oid", None)

    hostile.hostility.body = siblings(strip)
    hostile.hostility.headers = lambda repo, path, h: {**h, "X-Linked-Size": "1"}
    with pytest.raises(IntegrityError, match="disagrees"):
        files_of(hostile, EVIL_REPO)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("id", OK_REPO, "answered for repository 'ok/gguf' when asked for evil/x"),
        ("modelId", "someone/else", "answered for repository"),
        ("sha", "../../../../tmp/x", "malformed commit"),
        ("sha", "A" * 40, "malformed commit"),
        ("sha", None, "malformed commit"),
        ("siblings", {"a": 1}, "malformed file list"),
    ],
)
def test_model_info_facts_are_checked(
    hostile: HostileHub, field: str, value: object, match: str
) -> None:
    hostile.hostility.body = info_field(field, value)
    with pytest.raises(IntegrityError, match=match):
        client(hostile.url).snapshot(parse_reference(EVIL_REPO))


def test_a_redirect_to_another_repo_is_refused(hostile: HostileHub) -> None:
    hostile.hostility.moved[EVIL_REPO] = OK_REPO
    with pytest.raises(IntegrityError, match="answered for repository"):
        client(hostile.url).snapshot(parse_reference(EVIL_REPO))


def test_a_tree_listing_redirected_to_another_repo_is_refused(fixture_hub: FixtureHub) -> None:
    make_gguf_repo(fixture_hub, "Org/Good-GGUF", ("Q4_K_M",))
    make_gguf_repo(fixture_hub, "Org/Bad-GGUF", ("Q4_K_M",))
    moved = {"org/bad-gguf": "Org/Good-GGUF"}
    with (
        HubServer(fixture_hub, mirror=True, moved=moved) as server,
        pytest.raises(IntegrityError, match="was answered from"),
    ):
        client(server.url).snapshot(parse_reference("org/bad-gguf"))


def test_a_pinned_commit_answered_with_another_is_refused(hostile: HostileHub) -> None:
    hostile.hostility.body = info_field("sha", "f" * 40)
    with pytest.raises(IntegrityError, match="asked for commit"):
        client(hostile.url).snapshot(parse_reference(f"{EVIL_REPO}@{hostile.evil_commit}"))


def test_tree_only_mirror_gives_commit_from_head(fixture_hub: FixtureHub) -> None:
    commit = make_gguf_repo(fixture_hub, "Org/Mirror-GGUF", ("Q4_K_M",))
    with HubServer(fixture_hub, mirror=True, page_size=2) as server:
        snap = client(server.url).snapshot(parse_reference("org/mirror-gguf"))
        assert snap.source == "tree listing" and snap.commit == commit
        assert snap.repo == "org/mirror-gguf"
        assert sorted(f.path for f in snap.files) == sorted(
            fixture_hub.entries("Org/Mirror-GGUF", commit)
        )


@pytest.mark.parametrize(("token", "error"), [(None, ModelNotFound), ("hf_wrong", AuthError)])
def test_a_mirror_answering_401_for_every_miss(
    fixture_hub: FixtureHub, token: str | None, error: type[Exception]
) -> None:
    make_gguf_repo(fixture_hub, "Org/There-GGUF", ("Q4_K_M",))
    with HubServer(fixture_hub, mirror=True, miss_status=401) as server:
        assert client(server.url, token).snapshot(parse_reference("org/there-gguf")).files
        with pytest.raises(error, match="not found, or"):
            client(server.url, token).snapshot(parse_reference("org/absent"))


def test_junk_json_is_a_network_error(hostile: HostileHub) -> None:
    hostile.server.inject("/api/models/*", "junk", times=None)
    with pytest.raises(NetworkError, match="not JSON"):
        client(hostile.url).snapshot(parse_reference(EVIL_REPO))


def test_library_pull_of_evil_never_touches_ok(hostile: HostileHub, tmp_path: Path) -> None:
    prov = ModelProvisioner(tmp_path / "home", endpoint=hostile.url)
    prov.pull(OK_REPO)
    before = prov.get_model_info(OK_REPO)
    hostile.hostility.body = info_field("id", OK_REPO)
    with pytest.raises(IntegrityError):
        prov.pull(EVIL_REPO)
    assert prov.get_model_info(OK_REPO) == before
    assert [m.repo for m in prov.list_models()] == [OK_REPO]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
entry_keys = st.sampled_from(["rfilename", "path", "size", "blobId", "oid", "lfs", "type"])
lfs_blocks = st.dictionaries(st.sampled_from(["sha256", "oid", "size"]), json_values, max_size=3)
entries = st.one_of(
    json_values,
    st.dictionaries(entry_keys, json_values | lfs_blocks, max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(item=entries)
def test_any_listing_entry_is_facts_or_an_integrity_error(item: object) -> None:
    """Whatever JSON a sibling or tree entry is, it becomes checked facts or IntegrityError."""
    for parse in (_sibling, _tree_item):
        try:
            facts = parse(item, "x")
        except IntegrityError:
            continue
        if facts is None:
            continue
        assert facts.size is None or (type(facts.size) is int and facts.size >= 0)
        assert facts.sha256 is None or len(facts.sha256) == 64
        assert facts.git_sha1 is None or len(facts.git_sha1) == 40
        assert ".." not in facts.path.split("/") and not facts.path.startswith("/")


@pytest.mark.parametrize(
    ("variables", "file", "expected"),
    [
        ({}, None, "None"),
        ({}, "hf_from_file\n", "hf_from_file"),
        ({"HUGGING_FACE_HUB_TOKEN": "hf_legacy"}, None, "hf_legacy"),
        ({"HF_TOKEN": "hf_first", "HUGGING_FACE_HUB_TOKEN": "hf_legacy"}, None, "hf_first"),
    ],
)
def test_the_token_is_found_where_huggingface_hub_looks(
    tmp_path: Path, variables: dict[str, str], file: str | None, expected: str
) -> None:
    """In a fresh process (huggingface_hub freezes its paths at import): its token file and
    variables still give the token although a pull without any asks huggingface_hub nothing."""
    hf_home = tmp_path / "hf-home"
    hf_home.mkdir()
    if file is not None:
        (hf_home / "token").write_text(file)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env |= {"HF_HOME": str(hf_home), **variables}
    code = "from model_provisioner._hub import HubSettings; print(HubSettings.from_env().token)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
