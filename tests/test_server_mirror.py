"""The store as a Hub mirror, checked by clients nobody here wrote: huggingface_hub and ``hf``,
plus ``provisioner --endpoint`` pulling from one home into another (the air-gapped fleet case).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub import errors as hf_errors

from model_provisioner import ModelProvisioner
from tests.conftest import GGUF_REPO, SAFETENSORS_REPO, FixtureRepo
from tests.hub import HubServer
from tests.server_helpers import Served, serve

Q4 = "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"
Q8 = "tinyllama-1.1b-chat-v1.0.Q8_0.gguf"
BIN = Path(sys.executable).parent


@pytest.fixture
def mirror(
    tmp_path: Path, hub_server: HubServer, gguf_repo: FixtureRepo
) -> Iterator[tuple[Served, FixtureRepo]]:
    """A home holding Q4_K_M and Q8_0 of the GGUF repo, served on loopback."""
    source = tmp_path / "mirror-home"
    provisioner = ModelProvisioner(source, endpoint=hub_server.url)
    provisioner.pull(f"{GGUF_REPO}:Q4_K_M")
    provisioner.pull(f"{GGUF_REPO}:Q8_0")
    with serve(source) as served:
        yield served, gguf_repo


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PROVISIONER_"))}
    env |= {"HF_ENDPOINT": url, "HF_HOME": str(tmp_path / "hf-home"), "NO_COLOR": "1"}
    return env


def test_provisioner_pulls_from_another_provisioner(
    mirror: tuple[Served, FixtureRepo], tmp_path: Path, hub_server: HubServer
) -> None:
    served, repo = mirror
    second = tmp_path / "second-home"
    hub_server.clear_log()
    result = subprocess.run(
        [
            *(str(BIN / "provisioner"), "--home", str(second), "--endpoint", served.url),
            *("--json", "pull", f"{GGUF_REPO}:Q4_K_M"),
        ],
        env=_env("http://127.0.0.1:9", tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    info = ModelProvisioner(second).get_model_info(f"{GGUF_REPO}:Q4_K_M")
    assert info.commit == repo.commit
    assert info.model_path.name == Q4
    assert _sha256(info.model_path) == _sha256(repo.source(Q4))
    assert hub_server.log() == [], "the second machine never talked to the Hub"
    # Verified on arrival, as from the Hub.
    assert ModelProvisioner(second).verify_model(f"{GGUF_REPO}:Q4_K_M").ok


def test_huggingface_hub_downloads_from_the_mirror(
    mirror: tuple[Served, FixtureRepo], tmp_path: Path
) -> None:
    served, repo = mirror
    api = HfApi(endpoint=served.url, token=False)
    info = api.model_info(GGUF_REPO, files_metadata=True)
    assert info.sha == repo.commit
    names = {s.rfilename for s in info.siblings or []}
    assert {Q4, Q8} <= names
    by_name = {s.rfilename: s for s in info.siblings or []}
    lfs = by_name[Q4].lfs
    assert lfs is not None and lfs.sha256 == _sha256(repo.source(Q4))
    # At a commit, and with the case the user typed.
    assert api.model_info(GGUF_REPO.lower(), revision=repo.commit).sha == repo.commit

    tree = {f.path: f for f in api.list_repo_tree(GGUF_REPO, recursive=True)}
    assert set(tree) == names
    paths = api.get_paths_info(GGUF_REPO, [Q4, "nope.bin"])
    assert [p.path for p in paths] == [Q4]

    folder = snapshot_download(
        GGUF_REPO, endpoint=served.url, cache_dir=tmp_path / "hf-cache", token=False
    )
    for name in names:
        assert _sha256(Path(folder) / name) == _sha256(repo.source(name)), name

    single = hf_hub_download(
        GGUF_REPO, Q8, endpoint=served.url, cache_dir=tmp_path / "hf-cache-2", token=False
    )
    assert _sha256(Path(single)) == _sha256(repo.source(Q8))


def test_hf_cli_downloads_from_the_mirror(
    mirror: tuple[Served, FixtureRepo], tmp_path: Path
) -> None:
    served, repo = mirror
    target = tmp_path / "hf-local"
    result = subprocess.run(
        [str(BIN / "hf"), "download", GGUF_REPO, Q4, "--local-dir", str(target)],
        env=_env(served.url, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert _sha256(target / Q4) == _sha256(repo.source(Q4))


def test_hub_errors_map_to_huggingface_hub_types(mirror: tuple[Served, FixtureRepo]) -> None:
    served, _ = mirror
    api = HfApi(endpoint=served.url, token=False)
    with pytest.raises(hf_errors.RepositoryNotFoundError):
        api.model_info("Nobody/Nothing")
    with pytest.raises(hf_errors.RevisionNotFoundError):
        api.model_info(GGUF_REPO, revision="v9")
    with pytest.raises(hf_errors.EntryNotFoundError):
        hf_hub_download(GGUF_REPO, "F16.gguf", endpoint=served.url, token=False)


def test_resolve_headers_ranges_and_etags(mirror: tuple[Served, FixtureRepo]) -> None:
    served, repo = mirror
    source = repo.source(Q4).read_bytes()
    sha = hashlib.sha256(source).hexdigest()
    url = f"/{GGUF_REPO}/resolve/main/{Q4}"
    with served.client() as client:
        head = client.head(url)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["x-repo-commit"] == repo.commit
        assert head.headers["x-linked-etag"] == f'"{sha}"'
        assert head.headers["x-linked-size"] == str(len(source))
        assert head.headers["etag"] == f'"{sha}"'
        assert head.headers["accept-ranges"] == "bytes"
        assert head.headers["content-length"] == str(len(source))

        part = client.get(url, headers={"Range": "bytes=10-1033"})
        assert part.status_code == 206
        assert part.content == source[10:1034]
        assert part.headers["content-range"] == f"bytes 10-1033/{len(source)}"

        resumed = client.get(url, headers={"Range": "bytes=100-", "If-Range": f'"{sha}"'})
        assert resumed.status_code == 206 and resumed.content == source[100:]
        changed = client.get(url, headers={"Range": "bytes=100-", "If-Range": '"other"'})
        assert changed.status_code == 200 and changed.content == source

        beyond = client.get(url, headers={"Range": f"bytes={len(source) + 10}-"})
        assert beyond.status_code == 416

        readme = client.head(f"/{GGUF_REPO}/resolve/{repo.commit}/README.md")
        if readme.status_code == 200:  # small files: git blob id, no X-Linked-*
            assert "x-linked-etag" not in readme.headers
            assert len(readme.headers["etag"].strip('"')) == 40

        missing = client.get(f"/{GGUF_REPO}/resolve/main/nope.gguf")
        assert missing.status_code == 404
        assert missing.headers["x-error-code"] == "EntryNotFound"
        assert missing.json()["error"]["code"] == "entry-not-found"


def test_safetensors_folder_with_subfolders(
    tmp_path: Path, hub_server: HubServer, safetensors_repo: FixtureRepo
) -> None:
    source = tmp_path / "st-home"
    ModelProvisioner(source, endpoint=hub_server.url).pull(SAFETENSORS_REPO)
    with serve(source) as served:
        api = HfApi(endpoint=served.url, token=False)
        top = api.list_repo_tree(SAFETENSORS_REPO)
        everything = list(api.list_repo_tree(SAFETENSORS_REPO, recursive=True))
        assert len(everything) >= len(list(top))
        folder = snapshot_download(
            SAFETENSORS_REPO, endpoint=served.url, cache_dir=tmp_path / "c", token=False
        )
        installed = ModelProvisioner(source).get_model_info(SAFETENSORS_REPO)
        for f in installed.files:
            assert hashlib.sha256((Path(folder) / f.path).read_bytes()).hexdigest() == f.sha256
