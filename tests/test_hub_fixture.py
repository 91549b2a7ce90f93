"""The fixture Hub held to the real protocol by code nobody here wrote: huggingface_hub 2.4.

If these pass, a client that works against huggingface.co works against the fixture, and the
faults the fixture injects really reach the wire.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from tests.conftest import FIXTURE_TOKEN, FixtureRepo
from tests.hub import FixtureHub, HubServer, start_subprocess_server
from tests.hub.faults import HOSTILE_PATHS
from tests.makers import big_file, make_gguf, pattern_bytes

BIG = 3 << 20  # above the default 1 MiB cdn_threshold: served through the CDN host


def _same_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


@pytest.fixture
def big_repo(fixture_hub: FixtureHub, tmp_path: Path) -> FixtureRepo:
    """A gated repo with one 3 MiB GGUF (CDN-redirected) and one 3 MiB raw blob."""
    gguf = make_gguf(tmp_path / "src" / "big.Q4_K_M.gguf", pad_to=BIG)
    blob = big_file(tmp_path / "src" / "blob.bin", BIG)
    files: dict[str, bytes | Path] = {
        "README.md": b"# big\n",
        "big.Q4_K_M.gguf": gguf,
        "blob.bin": blob,
    }
    commit = fixture_hub.add_commit("Org/Big", files, gated=True)
    return FixtureRepo("Org/Big", commit, fixture_hub)


def _url(server: HubServer, repo: FixtureRepo, path: str, rev: str = "main") -> str:
    return f"{server.url}/{repo.id}/resolve/{rev}/{path}"


# -- the real client against the fixture -----------------------------------------------------------


def test_snapshot_download_gguf_with_allow_patterns(
    hub_server: HubServer, gguf_repo: FixtureRepo, tmp_path: Path
) -> None:
    folder = snapshot_download(
        gguf_repo.id,
        endpoint=hub_server.url,
        cache_dir=tmp_path / "cache",
        allow_patterns=["*Q4_K_M.gguf", "*.json"],
    )
    got = sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())
    assert got == ["config.json", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"]
    for name in got:
        assert _same_bytes(Path(folder) / name, gguf_repo.source(name))
    assert Path(folder).name == gguf_repo.commit


def test_snapshot_download_safetensors_repo_bytes_equal(
    hub_server: HubServer, safetensors_repo: FixtureRepo, tmp_path: Path
) -> None:
    folder = Path(
        snapshot_download(safetensors_repo.id, endpoint=hub_server.url, cache_dir=tmp_path)
    )
    got = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert got == safetensors_repo.files()
    assert "1_Pooling/config.json" in got
    for name in got:
        assert _same_bytes(folder / name, safetensors_repo.source(name)), name


def test_redirected_download_goes_to_cdn_host_without_token(
    hub_server: HubServer, big_repo: FixtureRepo, tmp_path: Path
) -> None:
    path = hf_hub_download(
        big_repo.id,
        "big.Q4_K_M.gguf",
        endpoint=hub_server.url,
        cache_dir=tmp_path,
        token=FIXTURE_TOKEN,
    )
    assert _same_bytes(Path(path), big_repo.source("big.Q4_K_M.gguf"))
    hub_requests = [e for e in hub_server.log() if e.listener == "hub"]
    cdn_requests = [e for e in hub_server.log() if e.listener == "cdn"]
    assert hub_requests and all(e.authorization for e in hub_requests)
    assert [e.status for e in cdn_requests] == [200]
    assert not cdn_requests[0].authorization
    assert cdn_requests[0].host.startswith("127.0.0.2:")
    assert hub_server.bytes_served("big.Q4_K_M.gguf") == BIG
    assert hub_server.bytes_served("org/big/big.Q4_K_M.gguf") == BIG


def test_head_of_redirected_file_carries_linked_headers(
    hub_server: HubServer, big_repo: FixtureRepo
) -> None:
    auth = {"Authorization": f"Bearer {FIXTURE_TOKEN}"}
    r = httpx.head(_url(hub_server, big_repo, "big.Q4_K_M.gguf"), headers=auth)
    entry = big_repo.hub.entries(big_repo.id, big_repo.commit)["big.Q4_K_M.gguf"]
    assert r.status_code == 302
    assert r.headers["Location"].startswith(hub_server.cdn_url)
    assert r.headers["X-Linked-Etag"] == f'"{entry.sha256}"'
    assert r.headers["X-Linked-Size"] == str(BIG)
    assert r.headers["X-Repo-Commit"] == big_repo.commit
    assert not any(h.lower().startswith("x-xet") for h in r.headers)


def test_model_info_with_files_metadata(hub_server: HubServer, gguf_repo: FixtureRepo) -> None:
    info = HfApi(endpoint=hub_server.url).model_info(gguf_repo.id.lower(), files_metadata=True)
    assert info.id == gguf_repo.id  # stored spelling, asked in lower case
    assert info.sha == gguf_repo.commit
    entries = gguf_repo.hub.entries(gguf_repo.id, gguf_repo.commit)
    assert info.siblings is not None
    assert sorted(s.rfilename for s in info.siblings) == sorted(entries)
    for sibling in info.siblings:
        entry = entries[sibling.rfilename]
        assert sibling.size == entry.size
        assert sibling.blob_id == entry.git_oid
        assert (sibling.lfs.sha256 if sibling.lfs else None) == (
            entry.sha256 if entry.lfs else None
        )


def test_revision_with_slash_and_tag(hub_server: HubServer, gguf_repo: FixtureRepo) -> None:
    hub = gguf_repo.hub
    commit = hub.add_commit(gguf_repo.id, {"notes.txt": b"x"}, branch="feature/x")
    hub.add_tag(gguf_repo.id, "v1.0", gguf_repo.commit)
    api = HfApi(endpoint=hub_server.url)
    assert api.model_info(gguf_repo.id, revision="feature/x").sha == commit
    assert api.model_info(gguf_repo.id, revision="v1.0").sha == gguf_repo.commit
    assert api.model_info(gguf_repo.id, revision=commit).sha == commit


def test_list_repo_tree_paginates(fixture_hub: FixtureHub, safetensors_repo: FixtureRepo) -> None:
    with HubServer(fixture_hub, page_size=2) as server:
        tree = list(HfApi(endpoint=server.url).list_repo_tree(safetensors_repo.id, recursive=True))
        pages = [e for e in server.log() if "/tree/" in e.path]
    files = sorted(e.path for e in tree if isinstance(e, RepoFile))
    assert files == safetensors_repo.files()
    assert [e.path for e in tree if isinstance(e, RepoFolder)] == ["1_Pooling", "onnx"]
    assert len(pages) == (len(tree) + 1) // 2
    weights = next(e for e in tree if e.path == "model.safetensors")
    assert isinstance(weights, RepoFile) and weights.lfs is not None
    assert (
        weights.lfs.size
        == weights.size
        == safetensors_repo.source("model.safetensors").stat().st_size
    )


def test_list_repo_tree_of_subfolder_not_recursive(
    hub_server: HubServer, safetensors_repo: FixtureRepo
) -> None:
    api = HfApi(endpoint=hub_server.url)
    assert [e.path for e in api.list_repo_tree(safetensors_repo.id, "1_Pooling")] == [
        "1_Pooling/config.json"
    ]
    top = [e.path for e in api.list_repo_tree(safetensors_repo.id)]
    assert "1_Pooling" in top and "1_Pooling/config.json" not in top


def test_get_paths_info(hub_server: HubServer, safetensors_repo: FixtureRepo) -> None:
    api = HfApi(endpoint=hub_server.url)
    infos = api.get_paths_info(safetensors_repo.id, ["config.json", "1_Pooling", "missing.txt"])
    by_path = {i.path: i for i in infos}
    assert set(by_path) == {"config.json", "1_Pooling"}
    assert isinstance(by_path["config.json"], RepoFile) and by_path["config.json"].lfs is None
    assert isinstance(by_path["1_Pooling"], RepoFolder)


def test_errors_map_to_hub_exceptions(
    hub_server: HubServer, gguf_repo: FixtureRepo, big_repo: FixtureRepo, tmp_path: Path
) -> None:
    api = HfApi(endpoint=hub_server.url)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(gguf_repo.id, revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(gguf_repo.id, "missing.gguf", endpoint=hub_server.url, cache_dir=tmp_path)
    with pytest.raises(GatedRepoError):
        hf_hub_download(big_repo.id, "blob.bin", endpoint=hub_server.url, cache_dir=tmp_path)
    with pytest.raises(GatedRepoError):
        hf_hub_download(
            big_repo.id, "blob.bin", endpoint=hub_server.url, cache_dir=tmp_path, token="hf_wrong"
        )
    gated_statuses = [e.status for e in hub_server.log() if e.file == "blob.bin"]
    assert gated_statuses == [401, 403]


def test_private_repo_needs_token(hub_server: HubServer, fixture_hub: FixtureHub) -> None:
    fixture_hub.add_commit("Org/Secret", {"a.txt": b"a"}, private=True)
    api = HfApi(endpoint=hub_server.url)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("Org/Secret", token=False)
    assert api.model_info("Org/Secret", token=FIXTURE_TOKEN).private is True


def test_hf_cli_download(hf_env: HubServer, gguf_repo: FixtureRepo, tmp_path: Path) -> None:
    hf = Path(sys.executable).with_name("hf")
    out = tmp_path / "out"
    result = subprocess.run(
        [str(hf), "download", gguf_repo.id, "--include", "*Q8_0.gguf", "--local-dir", str(out)],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    name = "tinyllama-1.1b-chat-v1.0.Q8_0.gguf"
    assert _same_bytes(out / name, gguf_repo.source(name))
    assert any(e.file == name and e.method == "GET" for e in hf_env.log())


def test_split_gguf_repo_lists_three_parts(
    hub_server: HubServer, split_gguf_repo: FixtureRepo
) -> None:
    names = HfApi(endpoint=hub_server.url).list_repo_files(split_gguf_repo.id)
    parts = sorted(n for n in names if n.endswith(".gguf"))
    assert parts == [f"split-llama-Q4_K_M-0000{i}-of-00003.gguf" for i in (1, 2, 3)]


# -- protocol details the client does not exercise -------------------------------------------------


def test_range_requests(hub_server: HubServer, big_repo: FixtureRepo) -> None:
    auth = {"Authorization": f"Bearer {FIXTURE_TOKEN}"}
    url = _url(hub_server, big_repo, "blob.bin")
    r = httpx.get(url, headers={**auth, "Range": "bytes=1048570-1048585"}, follow_redirects=True)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1048570-1048585/{BIG}"
    assert r.content == pattern_bytes(1048570, 16)
    r = httpx.get(url, headers={**auth, "Range": "bytes=-10"}, follow_redirects=True)
    assert r.content == pattern_bytes(BIG - 10, 10)
    r = httpx.get(url, headers={**auth, "Range": f"bytes={BIG}-"}, follow_redirects=True)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{BIG}"


def test_mirror_mode_has_only_tree_and_resolve(
    fixture_hub: FixtureHub, gguf_repo: FixtureRepo
) -> None:
    with HubServer(fixture_hub, mirror=True) as server:
        r = httpx.get(f"{server.url}/api/models/{gguf_repo.id}")
        assert r.status_code == 404 and "X-Error-Code" not in r.headers
        assert httpx.get(f"{server.url}/api/models/{gguf_repo.id}/revision/main").status_code == 404
        assert httpx.get(f"{server.url}/api/models/{gguf_repo.id}/tree/main").status_code == 200
        assert httpx.head(f"{server.url}/{gguf_repo.id}/resolve/main/README.md").status_code == 200
        with pytest.raises(HfHubHTTPError) as caught:
            HfApi(endpoint=server.url).model_info(gguf_repo.id)
        assert not isinstance(caught.value, RepositoryNotFoundError)


def test_subprocess_server(fixture_hub: FixtureHub, gguf_repo: FixtureRepo) -> None:
    proc, url = start_subprocess_server(fixture_hub.root)
    try:
        assert HfApi(endpoint=url).model_info(gguf_repo.id).sha == gguf_repo.commit
        faults = [{"path": "README.md", "kind": "status", "status": 502}]
        assert httpx.post(f"{url}/_fixture/faults", json=faults).status_code == 200
        assert httpx.get(f"{url}/{gguf_repo.id}/resolve/main/README.md").status_code == 502
        assert httpx.get(f"{url}/{gguf_repo.id}/resolve/main/README.md").status_code == 200
        log = httpx.get(f"{url}/_fixture/log").json()
        assert [e["status"] for e in log if e["file"] == "README.md"] == [502, 200]
        assert httpx.delete(f"{url}/_fixture/log").status_code == 200
        assert httpx.get(f"{url}/_fixture/log").json() == []
    finally:
        proc.terminate()
        proc.wait(10)


# -- every fault kind really happens ---------------------------------------------------------------


def _stream(
    url: str, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[bytes, Exception | None]:
    """Read what arrives until the body ends or breaks; return (bytes, the error if any)."""
    received = bytearray()
    try:
        with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=timeout) as r:
            for chunk in r.iter_raw():
                received += chunk
    except httpx.HTTPError as error:
        return bytes(received), error
    return bytes(received), None


@pytest.fixture
def blob_url(hub_server: HubServer, big_repo: FixtureRepo) -> str:
    big_repo.hub.set_flags(big_repo.id, gated=False)
    return _url(hub_server, big_repo, "blob.bin")


def test_fault_reset(hub_server: HubServer, blob_url: str) -> None:
    hub_server.inject("blob.bin", "reset", after_bytes=100_000)
    body, error = _stream(blob_url)
    assert isinstance(error, httpx.ReadError)
    assert body == pattern_bytes(0, 100_000)
    assert hub_server.bytes_served("blob.bin") == 100_000
    assert _stream(blob_url) == (pattern_bytes(0, BIG), None)  # spent after one firing


def test_fault_short_body(hub_server: HubServer, blob_url: str) -> None:
    hub_server.inject("blob.bin", "short_body", after_bytes=5000, where="cdn")
    body, error = _stream(blob_url)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert body == pattern_bytes(0, 5000)


def test_fault_status_and_rate_limit(hub_server: HubServer, blob_url: str) -> None:
    hub_server.inject("blob.bin", "status", status=500, methods=["GET"])
    hub_server.inject("blob.bin", "rate_limit", retry_after=7)
    assert httpx.head(blob_url).status_code == 429
    first = httpx.get(blob_url)
    assert first.status_code == 500
    r = httpx.get(blob_url, follow_redirects=True)
    assert r.status_code == 200 and len(r.content) == BIG
    limited = [e for e in hub_server.log() if e.fault == "rate_limit"]
    assert len(limited) == 1 and limited[0].status == 429


def test_fault_rate_limit_header(hub_server: HubServer, blob_url: str) -> None:
    hub_server.inject("*", "rate_limit", retry_after=7)
    r = httpx.get(blob_url)
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"


def test_fault_stall(hub_server: HubServer, blob_url: str) -> None:
    hub_server.inject("blob.bin", "stall", after_bytes=1000, seconds=0.6)
    body, error = _stream(blob_url, timeout=0.2)
    assert isinstance(error, httpx.ReadTimeout) and body == pattern_bytes(0, 1000)
    hub_server.inject("blob.bin", "stall", after_bytes=1000, seconds=0.3)
    started = time.monotonic()
    assert _stream(blob_url) == (pattern_bytes(0, BIG), None)
    assert time.monotonic() - started >= 0.3


def test_fault_corrupt(hub_server: HubServer, blob_url: str) -> None:
    hub_server.inject("blob.bin", "corrupt", offset=2_000_000, length=4)
    body, error = _stream(blob_url)
    good = pattern_bytes(0, BIG)
    assert error is None and len(body) == BIG
    assert [i for i in range(BIG) if body[i] != good[i]] == [
        2_000_000,
        2_000_001,
        2_000_002,
        2_000_003,
    ]


def test_fault_ignore_range(hub_server: HubServer, blob_url: str) -> None:
    hub_server.inject("blob.bin", "ignore_range")
    r = httpx.get(blob_url, headers={"Range": "bytes=100-199"}, follow_redirects=True)
    assert r.status_code == 200 and len(r.content) == BIG and "Content-Range" not in r.headers


def test_fault_no_linked_headers(
    hub_server: HubServer, gguf_repo: FixtureRepo, tmp_path: Path
) -> None:
    name = "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"
    hub_server.inject(name, "no_linked_headers", times=None)
    r = httpx.head(_url(hub_server, gguf_repo, name))
    assert r.status_code == 200 and r.headers["Content-Length"]
    for header in ("ETag", "X-Linked-Etag", "X-Linked-Size", "Accept-Ranges"):
        assert header not in r.headers
    with pytest.raises(Exception, match="ETag"):  # what a dumb mirror does to huggingface_hub
        hf_hub_download(gguf_repo.id, name, endpoint=hub_server.url, cache_dir=tmp_path)


def test_fault_hostile_listing(hub_server: HubServer, gguf_repo: FixtureRepo) -> None:
    hub_server.inject(gguf_repo.id, "hostile_listing", times=None)
    api = HfApi(endpoint=hub_server.url)
    tree = [e.path for e in api.list_repo_tree(gguf_repo.id, recursive=True)]
    siblings = [s.rfilename for s in api.model_info(gguf_repo.id).siblings or []]
    for hostile in HOSTILE_PATHS:
        assert hostile in tree and hostile in siblings


def test_faults_over_http(hub_server: HubServer, blob_url: str) -> None:
    bad = httpx.post(f"{hub_server.url}/_fixture/faults", json=[{"path": "*", "kind": "explode"}])
    assert bad.status_code == 400
    faults = [{"path": "blob.bin", "kind": "reset", "after_bytes": 10, "times": 2}]
    assert httpx.post(f"{hub_server.url}/_fixture/faults", json=faults).status_code == 200
    assert httpx.get(f"{hub_server.url}/_fixture/faults").json()[0]["times"] == 2
    assert httpx.delete(f"{hub_server.url}/_fixture/faults").status_code == 200
    assert _stream(blob_url)[1] is None


# -- the on-disk repos ------------------------------------------------------------------------


def test_oids_match_git_and_commits_are_deterministic(tmp_path: Path) -> None:
    files: dict[str, bytes | Path] = {"a.txt": b"hello\n", "w.safetensors": b"\0" * 10}
    one, two = FixtureHub(tmp_path / "one"), FixtureHub(tmp_path / "two")
    commit = one.add_commit("Org/R", files)
    assert two.add_commit("org/r", files) == commit
    entries = one.entries("ORG/r", commit)
    assert entries["a.txt"].oid == entries["a.txt"].git_oid == _git_hash(b"hello\n")
    lfs = entries["w.safetensors"]
    assert lfs.lfs and lfs.oid == lfs.sha256 and lfs.size == 10
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{lfs.sha256}\nsize 10\n"
    assert lfs.git_oid == _git_hash(pointer.encode()) and lfs.pointer_size == len(pointer)


def test_commits_overlay_the_branch_and_refs_move(tmp_path: Path) -> None:
    hub = FixtureHub(tmp_path)
    first = hub.add_commit("Org/R", {"a": b"1", "b": b"2"})
    second = hub.add_commit("Org/R", {"b": b"3", "c": b"4"}, delete=["a"])
    repo = hub.find_repo("org/R")
    assert repo is not None and repo.id == "Org/R"
    assert sorted(hub.entries(repo, second)) == ["b", "c"]
    assert hub.file_path(repo, second, "b").read_bytes() == b"3"
    assert hub.resolve(repo, "main") == second and hub.resolve(repo, second[:8]) == second
    hub.set_branch("Org/R", "main", first)
    hub.add_tag("Org/R", "v1", second)
    assert hub.resolve(repo, "main") == first and hub.resolve(repo, "refs/tags/v1") == second
    assert hub.resolve(repo, "nope") is None


def test_client_going_away_is_logged_incomplete(
    hub_server: HubServer, fixture_hub: FixtureHub, tmp_path: Path
) -> None:
    size = 64 << 20  # more than loopback socket buffers hold, so the cut lands mid-body
    fixture_hub.add_commit("Org/Huge", {"huge.bin": big_file(tmp_path / "huge.bin", size)})
    url = f"{hub_server.url}/Org/Huge/resolve/main/huge.bin"
    with httpx.stream("GET", url, follow_redirects=True) as r:
        next(r.iter_raw(1 << 16))
    deadline = time.monotonic() + 5
    while not (cut := [e for e in hub_server.log() if e.listener == "cdn"]):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert not cut[0].complete and 0 < cut[0].bytes_sent < size


def _git_hash(data: bytes) -> str:
    """Ask git itself for the blob id, so the fixture's hashing is checked by git."""
    git = subprocess.run(
        ["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True
    )
    return git.stdout.decode().strip()


def test_body_fault_waits_for_a_body_it_can_land_in(hub_server: HubServer, blob_url: str) -> None:
    fault = hub_server.inject("blob.bin", "reset", after_bytes=1000)
    small = httpx.get(blob_url, headers={"Range": "bytes=0-999"}, follow_redirects=True)
    assert small.status_code == 206 and fault.fired == 0  # 1000 bytes: nothing to cut
    assert isinstance(_stream(blob_url)[1], httpx.ReadError) and fault.fired == 1
