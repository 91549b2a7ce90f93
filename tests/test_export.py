"""provisioner export --hf-cache: the real huggingface_hub finds our models offline, same inodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_provisioner import ModelProvisioner, UsageError
from model_provisioner.cli import main
from tests.conftest import DEAD_ENDPOINT, FixtureRepo
from tests.hub.server import HubServer
from tests.import_sources import fingerprint

Q4 = "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"
HF = Path(sys.executable).with_name("hf")

# Run in a fresh interpreter: huggingface_hub reads HF_HUB_OFFLINE once, at import.
_READ_OFFLINE = """
import json, sys
from huggingface_hub import hf_hub_download, snapshot_download
cache, gguf, name, minilm = sys.argv[1:5]
print(json.dumps({
    "gguf": hf_hub_download(gguf, name, cache_dir=cache),
    "minilm": snapshot_download(minilm, cache_dir=cache, local_files_only=True),
}))
"""


def _offline_env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_ENDPOINT=DEAD_ENDPOINT)
    env.pop("HF_HUB_CACHE", None)
    return env


def _same_inode(a: Path, b: Path) -> bool:
    sa, sb = a.stat(), b.stat()
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def test_exported_cache_is_read_offline_by_huggingface_hub(
    hf_env: HubServer,
    gguf_repo: FixtureRepo,
    safetensors_repo: FixtureRepo,
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    p = ModelProvisioner(home, endpoint=hf_env.url)
    gguf = p.pull(f"{gguf_repo.id}:Q4_K_M")
    minilm = p.install(safetensors_repo.id)
    cache = tmp_path / "hf-cache"

    try:
        main(["--home", str(home), "--json", "export", "--hf-cache", str(cache)])
    except SystemExit as exit:
        assert exit.code == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["repos"]) == sorted([gguf_repo.id, safetensors_repo.id])
    assert report["linked"] == 1 + minilm.file_count and report["skipped"] == []

    out = subprocess.run(
        [sys.executable, "-c", _READ_OFFLINE, str(cache), gguf_repo.id, Q4, safetensors_repo.id],
        env=_offline_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = json.loads(out)
    assert _same_inode(Path(found["gguf"]), gguf)  # no second copy
    snapshot = Path(found["minilm"])
    assert snapshot.name == minilm.commit
    for f in minilm.files:
        assert _same_inode(snapshot / f.path, minilm.model_path / f.path), f.path
    # as huggingface_hub makes them: relative symlinks into ../../blobs
    config_link = snapshot / "1_Pooling" / "config.json"
    assert os.readlink(config_link).startswith("../../../blobs/")

    listed = subprocess.run(
        [str(HF), "cache", "ls", "--cache-dir", str(cache), "--json"],
        env=_offline_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert {gguf_repo.id, safetensors_repo.id} <= {
        r.get("repo_id", r.get("id", "")).removeprefix("model/") for r in json.loads(listed)
    }
    # huggingface_hub's own check of every blob against the Hub's listing
    for repo in (gguf_repo.id, safetensors_repo.id):
        subprocess.run(
            [str(HF), "cache", "verify", repo, "--cache-dir", str(cache)],
            env=dict(os.environ, HF_ENDPOINT=hf_env.url),
            capture_output=True,
            check=True,
        )


def test_export_again_adds_nothing_and_keeps_what_is_there(
    hf_env: HubServer, gguf_repo: FixtureRepo, home: Path, tmp_path: Path
) -> None:
    p = ModelProvisioner(home, endpoint=hf_env.url)
    p.pull(f"{gguf_repo.id}:Q4_K_M")
    cache = tmp_path / "hf-cache"
    first = p.export_hf_cache(cache)
    before = fingerprint(cache)
    second = p.export_hf_cache(cache)
    assert (first.linked, second.linked, second.present) == (1, 0, 1)
    assert fingerprint(cache) == before


def test_config_keeps_the_export_up_to_date_on_every_pull(
    hf_env: HubServer, gguf_repo: FixtureRepo, home: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "kept"
    (home / "config.toml").write_text(f'export_hf_cache = "{cache}"\n')
    p = ModelProvisioner(home, endpoint=hf_env.url)
    path = p.pull(f"{gguf_repo.id}:Q8_0")
    snapshot = cache / f"models--{gguf_repo.id.replace('/', '--')}" / "snapshots" / gguf_repo.commit
    assert _same_inode(snapshot / path.name, path)
    assert (snapshot.parent.parent / "refs" / "main").read_text() == gguf_repo.commit


def test_export_refuses_a_linked_folder_and_writes_nothing_outside(
    hf_env: HubServer, gguf_repo: FixtureRepo, home: Path, tmp_path: Path
) -> None:
    p = ModelProvisioner(home, endpoint=hf_env.url)
    p.pull(f"{gguf_repo.id}:Q4_K_M")
    cache, outside = tmp_path / "hf-cache", tmp_path / "outside"
    cache.mkdir()
    outside.mkdir()
    (cache / f"models--{gguf_repo.id.replace('/', '--')}").symlink_to(outside)
    with pytest.raises(UsageError, match="not a folder"):
        p.export_hf_cache(cache)
    assert list(outside.iterdir()) == []


def test_export_without_a_folder_uses_huggingface_hubs_cache(
    hf_env: HubServer,
    gguf_repo: FixtureRepo,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ModelProvisioner(home, endpoint=hf_env.url).pull(f"{gguf_repo.id}:Q4_K_M")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "default-cache"))
    with pytest.raises(SystemExit) as exit:
        main(["--home", str(home), "export", "--hf-cache"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    cache = tmp_path / "default-cache"
    assert out == f"exported 1 repo to {cache}: 1 file linked, 0 already there\n"
    with pytest.raises(SystemExit) as exit:
        main(["--home", str(home), "export"])
    assert exit.value.code == 2
