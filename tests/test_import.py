"""provisioner import: real caches adopted by link, checked file by file, never modified."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from huggingface_hub import snapshot_download

from model_provisioner import ModelProvisioner
from model_provisioner.cli import main
from tests.conftest import FixtureRepo
from tests.hub.server import HubServer
from tests.import_sources import (
    MODEL_MEDIA,
    PARAMS_MEDIA,
    PROJECTOR_MEDIA,
    TEMPLATE_MEDIA,
    fingerprint,
    git_sha1_of,
    inodes,
    make_llama_hf_cache,
    make_llama_legacy_file,
    make_ollama_model,
    sha256_of,
)
from tests.makers import make_gguf


def _gguf(tmp_path: Path, quant: str, seed: int) -> bytes:
    return make_gguf(
        tmp_path / "made" / f"{quant}-{seed}.gguf", file_type=quant, seed=seed
    ).read_bytes()


Q4 = "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"
HF = Path(sys.executable).with_name("hf")
Q8 = "tinyllama-1.1b-chat-v1.0.Q8_0.gguf"

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(home: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(["--home", str(home), *args])
        except SystemExit as exit:
            code = int(exit.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _hf_cache(server: HubServer, repo: FixtureRepo, cache: Path, *patterns: str) -> Path:
    snapshot_download(
        repo.id, endpoint=server.url, cache_dir=cache, allow_patterns=list(patterns) or None
    )
    return cache


def _du(*paths: Path) -> int:
    """Bytes ``du`` finds under all of ``paths`` together (each inode once)."""
    out = subprocess.run(
        ["du", "-s", "-c", "--block-size=1", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.splitlines()[-1].split()[0])


def _resolves(server: HubServer) -> list[str]:
    return [e.path for e in server.log() if "/resolve/" in e.path]


def test_hf_cache_import_links_checks_and_a_pull_fetches_nothing(
    hf_env: HubServer, gguf_repo: FixtureRepo, home: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    subprocess.run(
        [str(HF), "download", gguf_repo.id, "--include", "*Q4_K_M.gguf", "--include", "*.json",
         "--cache-dir", str(cache)],
        env=dict(os.environ, HF_ENDPOINT=hf_env.url),
        capture_output=True,
        check=True,
    )  # fmt: skip
    before = fingerprint(cache)
    du_before = _du(cache, home)
    p = ModelProvisioner(home, endpoint=hf_env.url)
    events: list[str] = []
    report = p.import_hf_cache(cache, progress=lambda e: events.append(e.stage.value))

    assert report.ok and [i.reference for i in report.imported] == [f"hf:{gguf_repo.id}:{Q4}"]
    info = report.imported[0]
    assert info.commit == gguf_repo.commit and info.format == "gguf"
    assert [f.path for f in info.files] == [Q4]  # what a pull of it selects: no config.json
    assert report.bytes_copied == 0 and report.bytes_linked == info.total_size
    assert events[0] == "verifying" and events[-1] == "complete"
    # no second copy: every file the store holds is an inode of the cache
    assert inodes(home / "blobs") <= inodes(cache)
    # du counts a hard-linked file once across its arguments: only folders and manifests grew
    assert _du(cache, home) - du_before < info.total_size // 2
    assert fingerprint(cache) == before
    assert p.verify_model(f"{gguf_repo.id}:Q4_K_M").ok

    served = len(_resolves(hf_env))
    assert p.pull(f"{gguf_repo.id}:Q4_K_M") == info.model_path
    assert p.pull(gguf_repo.id) == info.model_path
    assert len(_resolves(hf_env)) == served
    assert fingerprint(cache) == before


def test_import_of_one_reference_and_a_second_import_is_a_no_op(
    hf_env: HubServer, gguf_repo: FixtureRepo, home: Path, tmp_path: Path
) -> None:
    cache = _hf_cache(hf_env, gguf_repo, tmp_path / "cache", "*.gguf")
    p = ModelProvisioner(home)
    report = p.import_hf_cache(cache, f"{gguf_repo.id}:Q8_0")
    assert [i.reference for i in report.imported] == [f"hf:{gguf_repo.id}:Q8_0"]
    again = p.import_hf_cache(cache, f"{gguf_repo.id}:Q8_0")
    assert again.imported == [] and [i.reference for i in again.present] == [
        f"hf:{gguf_repo.id}:Q8_0"
    ]
    everything = p.import_hf_cache(cache)
    assert len(everything.imported) == 3  # Q4_K_M, F16 and the Q8_0 file by its path
    assert p.find_local_model(f"{gguf_repo.id}:F16") is not None


def test_a_flipped_byte_in_the_cache_is_caught_and_only_that_file_skipped(
    hf_env: HubServer, gguf_repo: FixtureRepo, home: Path, tmp_path: Path, cli: Cli
) -> None:
    cache = _hf_cache(hf_env, gguf_repo, tmp_path / "cache", "*Q4_K_M.gguf", "*Q8_0.gguf")
    damaged = (cache / f"models--{gguf_repo.id.replace('/', '--')}" / "snapshots").glob(f"*/{Q8}")
    blob = next(damaged).resolve()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))

    code, out, err = cli("import", "hf-cache", str(cache))

    assert code == 4, err
    skipped = [line for line in err.splitlines() if str(blob) in line]
    assert len(skipped) == 1 and "does not match" in skipped[0] and Q8 in skipped[0]
    assert err.splitlines()[-1] == "error: 1 item(s) not imported (listed above)"
    assert f"imported hf:{gguf_repo.id}:{Q4}" in out
    p = ModelProvisioner(home)
    assert p.find_local_model(f"{gguf_repo.id}:Q4_K_M") is not None
    assert p.find_local_model(f"{gguf_repo.id}:Q8_0") is None
    assert not any((home / "partial").glob("import-*"))


def test_safetensors_cache_import_json_output(
    hf_env: HubServer, safetensors_repo: FixtureRepo, home: Path, tmp_path: Path, cli: Cli
) -> None:
    cache = _hf_cache(hf_env, safetensors_repo, tmp_path / "cache")
    code, out, _ = cli("--json", "import", "hf-cache", str(cache), "--ref", safetensors_repo.id)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    (imported,) = [line for line in lines if line["event"] == "imported"]
    assert imported["reference"] == f"hf:{safetensors_repo.id}"
    assert imported["format"] == "safetensors"
    assert "model.safetensors" in {f["path"] for f in imported["files"]}
    assert not any(f["path"].startswith("onnx/") for f in imported["files"])
    assert lines[-1]["event"] == "result" and lines[-1]["bytes_copied"] == 0
    served = len(_resolves(hf_env))
    ModelProvisioner(home, endpoint=hf_env.url).pull(safetensors_repo.id)
    assert len(_resolves(hf_env)) == served


# -- Ollama ------------------------------------------------------------------------------------


def test_ollama_store_import(home: Path, tmp_path: Path, cli: Cli) -> None:
    models = tmp_path / "ollama"
    gguf = _gguf(tmp_path, "Q4_K_M", 3)
    projector = _gguf(tmp_path, "F16", 4)
    make_ollama_model(
        models,
        "tinyllama",
        "latest",
        [
            (MODEL_MEDIA, gguf),
            (PROJECTOR_MEDIA, projector),
            (TEMPLATE_MEDIA, b"{{ .Prompt }}"),
            (PARAMS_MEDIA, b'{"stop": ["</s>"]}'),
        ],
    )
    make_ollama_model(models, "phi3", "mini", [(MODEL_MEDIA, _gguf(tmp_path, "Q8_0", 5))])
    before = fingerprint(models)

    code, out, err = cli("import", "ollama", str(models))

    assert code == 0, err
    assert "imported ollama:library/tinyllama@latest" in out
    assert "imported ollama:library/phi3@mini" in out
    p = ModelProvisioner(home)
    path = p.find_local_model("ollama:library/tinyllama")
    assert path is not None and path.name == "tinyllama-latest.gguf"
    assert path.read_bytes() == gguf
    mmproj = p.find_local_projector("ollama:library/tinyllama@latest")
    assert mmproj is not None and mmproj.read_bytes() == projector
    assert p.get_model_info("ollama:library/tinyllama").metadata.architecture == "llama"
    assert p.verify_model("ollama:library/phi3@mini").ok
    assert inodes(home / "blobs") <= inodes(models)
    assert fingerprint(models) == before
    # an Ollama entry is local: a pull returns it and never asks a Hub
    assert p.pull("ollama:library/phi3@mini") == p.find_local_model("ollama:library/phi3@mini")

    code, out, _ = cli("import", "ollama", str(models), "--model", "phi3:mini")
    assert code == 0 and "already installed ollama:library/phi3@mini" in out


def test_ollama_layer_with_wrong_digest_is_skipped(home: Path, tmp_path: Path, cli: Cli) -> None:
    models = tmp_path / "ollama"
    gguf = _gguf(tmp_path, "Q4_K_M", 6)
    make_ollama_model(models, "bad", "latest", [(MODEL_MEDIA, gguf)])
    blob = models / "blobs" / f"sha256-{sha256_of(gguf)}"
    blob.write_bytes(gguf[:-1] + bytes([gguf[-1] ^ 0xFF]))
    code, _, err = cli("import", "ollama", str(models))
    assert code == 4
    (line,) = err.splitlines()[:-1]
    assert line.startswith("ollama:library/bad@latest: not imported: bad-latest.gguf")
    assert f"({blob}: sha256" in line


# -- llama.cpp ---------------------------------------------------------------------------------


def test_llama_cpp_hf_layout_and_legacy_files(
    hf_env: HubServer,
    gguf_repo: FixtureRepo,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "llama-cache"
    q4 = gguf_repo.source(Q4).read_bytes()
    config = gguf_repo.source("config.json").read_bytes()
    make_llama_hf_cache(
        cache,
        gguf_repo.id,
        gguf_repo.commit,
        {Q4: (q4, sha256_of(q4)), "config.json": (config, git_sha1_of(config))},
    )
    q8 = gguf_repo.source(Q8).read_bytes()
    make_llama_legacy_file(cache, hf_env.url, gguf_repo.id, Q8, q8)
    before = fingerprint(cache)
    monkeypatch.setenv("LLAMA_CACHE", str(cache))

    p = ModelProvisioner(home, endpoint=hf_env.url)
    report = p.import_llama_cpp()

    assert report.ok, report.skipped
    refs = sorted(i.reference for i in report.imported)
    assert refs == [f"hf:{gguf_repo.id}:{Q4}", f"hf:{gguf_repo.id}:{Q8}"]
    legacy = p.get_model_info(f"{gguf_repo.id}:{Q8}")
    assert legacy.commit != gguf_repo.commit  # unknown: a content id until the next pull
    assert fingerprint(cache) == before
    served = len(_resolves(hf_env))
    p.pull(f"{gguf_repo.id}:{Q8}")
    assert len(_resolves(hf_env)) == served
    assert p.get_model_info(f"{gguf_repo.id}:{Q8}").commit == gguf_repo.commit
    assert p.verify_model(f"{gguf_repo.id}:{Q8}").ok


# -- plain folder ------------------------------------------------------------------------------


def test_folder_import_copies_across_devices_and_leaves_the_source(
    home: Path, tmp_path: Path, cli: Cli, safetensors_repo: FixtureRepo
) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(home).st_dev:
        pytest.skip("needs a second filesystem")
    folder = Path(os.environ.get("TMPDIR_SHM", shm)) / f"import-{os.getpid()}-{tmp_path.name}"
    folder.mkdir()
    try:
        for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md"):
            (folder / name).write_bytes(safetensors_repo.source(name).read_bytes())
        before = fingerprint(folder)
        code, out, err = cli("import", "folder", str(folder), "--as", "me/minilm")
        assert code == 0, err
        assert "imported local:me/minilm" in out
        p = ModelProvisioner(home)
        info = p.get_model_info("local:me/minilm")
        assert info.format == "safetensors" and info.model_path.is_dir()
        assert {f.path for f in info.files} == {
            "config.json",
            "model.safetensors",
            "tokenizer.json",
        }
        assert not inodes(home / "blobs") & inodes(folder)  # copied, not linked
        assert all(
            b.stat().st_mode & 0o777 == 0o444 for b in (home / "blobs").rglob("*") if b.is_file()
        )
        assert fingerprint(folder) == before
        assert p.verify_model("local:me/minilm").ok
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def test_a_file_others_may_write_is_copied_not_linked(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    shared = folder / "m.Q4_K_M.gguf"
    shared.write_bytes(_gguf(tmp_path, "Q4_K_M", 9))
    shared.chmod(0o666)
    mine = folder / "m.Q8_0.gguf"
    mine.write_bytes(_gguf(tmp_path, "Q8_0", 10))
    before = fingerprint(folder)
    report = ModelProvisioner(home).import_folder(folder, "me/m")
    assert report.ok and len(report.imported) == 2
    assert report.bytes_copied == shared.stat().st_size
    assert report.bytes_linked == mine.stat().st_size
    store = inodes(home / "blobs")
    assert (shared.stat().st_dev, shared.stat().st_ino) not in store
    assert (mine.stat().st_dev, mine.stat().st_ino) in store
    assert fingerprint(folder) == before  # still 0666: the copy was chmodded, not the source


def test_split_gguf_cache_makes_one_entry_and_a_missing_part_is_reported(
    hf_env: HubServer, split_gguf_repo: FixtureRepo, home: Path, tmp_path: Path
) -> None:
    cache = _hf_cache(hf_env, split_gguf_repo, tmp_path / "cache", "*.gguf")
    p = ModelProvisioner(home)
    report = p.import_hf_cache(cache)
    (info,) = report.imported
    assert len(info.gguf_files) == 3 and info.model_path.name.endswith("-00001-of-00003.gguf")

    partial = tmp_path / "partial-cache"
    _hf_cache(hf_env, split_gguf_repo, partial, "*-00001-of-*.gguf", "*-00002-of-*.gguf")
    report = ModelProvisioner(tmp_path / "home2").import_hf_cache(partial)
    assert report.imported == []
    assert "only 2 of its split parts are here" in str(report.skipped[0])


def test_ollama_models_from_another_host_keep_their_namespace(home: Path, tmp_path: Path) -> None:
    models = tmp_path / "ollama"
    gguf = _gguf(tmp_path, "Q4_K_M", 11)
    make_ollama_model(
        models, "Llama-3.2-1B-Instruct-GGUF", "Q4_K_M", [(MODEL_MEDIA, gguf)],
        namespace="bartowski", host="hf.co",
    )  # fmt: skip
    p = ModelProvisioner(home)
    report = p.import_ollama(models, "bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M")
    assert [i.reference for i in report.imported] == [
        "ollama:bartowski/Llama-3.2-1B-Instruct-GGUF@Q4_K_M"
    ]
    assert p.get_model_info("ollama:bartowski/Llama-3.2-1B-Instruct-GGUF@Q4_K_M").quantization


def test_llama_cpp_flat_files_named_by_a_manifest_file(
    hf_env: HubServer, gguf_repo: FixtureRepo, home: Path, tmp_path: Path
) -> None:
    """The flat layout between the .json sidecars and the hf layout: ``.etag`` beside the
    file, origin and sha256 in ``manifest=<org>=<repo>=<tag>.json`` (the Hub's manifest)."""
    folder = tmp_path / "llama"
    folder.mkdir()
    org, name = gguf_repo.id.split("/")
    q8 = gguf_repo.source(Q8).read_bytes()
    local = folder / f"{org}_{name}_{Q8}"
    local.write_bytes(q8)
    local.with_name(local.name + ".etag").write_text(f'"{sha256_of(q8)}"')
    manifest = {"ggufFile": {"rfilename": Q8, "lfs": {"sha256": sha256_of(q8), "size": len(q8)}}}
    (folder / f"manifest={org}={name}=Q8_0.json").write_text(json.dumps(manifest))
    report = ModelProvisioner(home).import_llama_cpp(folder)
    assert report.ok and [i.reference for i in report.imported] == [f"hf:{gguf_repo.id}:{Q8}"]
