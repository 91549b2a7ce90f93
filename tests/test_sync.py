"""lock on one home, sync on another: identical stores, hashes as the trust anchor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_provisioner import ModelProvisioner
from model_provisioner._lockfile import dump_lockfile, parse_lockfile
from tests.cli_helpers import cli_runner
from tests.conftest import GGUF_REPO, SAFETENSORS_REPO, FixtureRepo
from tests.hub.server import HubServer

Q4 = f"{GGUF_REPO}:Q4_K_M"
VOLATILE = {"downloaded_at", "verified_at", "endpoint"}


def tree(home: Path) -> dict[str, object]:
    """Everything a store holds that must be identical: blobs, model folders, manifests."""
    out: dict[str, object] = {}
    for top in ("blobs", "models"):
        for path in sorted((home / top).rglob("*")):
            if path.is_file():
                out[str(path.relative_to(home))] = path.read_bytes()
    for path in sorted((home / "manifests").rglob("*.json")):
        data = json.loads(path.read_text())
        out[str(path.relative_to(home))] = {k: v for k, v in data.items() if k not in VOLATILE}
    return out


@pytest.fixture
def source(
    tmp_path: Path, hub_server: HubServer, gguf_repo: FixtureRepo, safetensors_repo: FixtureRepo
) -> ModelProvisioner:
    p = ModelProvisioner(tmp_path / "source", endpoint=hub_server.url)
    p.pull(Q4)
    p.pull(f"{GGUF_REPO}:Q8_0")
    p.pull(SAFETENSORS_REPO)
    return p


def test_lock_then_sync_on_an_empty_home_gives_an_identical_store(
    source: ModelProvisioner,
    tmp_path: Path,
    hub_server: HubServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, locked, _ = cli_runner(source.home, None, capsys)("lock")
    assert code == 0 and len(parse_lockfile(locked).models) == 3
    lockfile = tmp_path / "models.lock"
    lockfile.write_text(locked)
    target = tmp_path / "target"
    run = cli_runner(target, hub_server.url, capsys)
    code, out, err = run("sync", str(lockfile))
    assert code == 0, err
    assert out.count("installed ") == 3
    assert tree(target) == tree(source.home)
    assert ModelProvisioner(target).verify_model(SAFETENSORS_REPO).ok
    # Again, offline and with a dead endpoint: everything is present, nothing is fetched.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = cli_runner(target, "http://127.0.0.1:9", capsys)("sync", str(lockfile))
    assert (code, err) == (0, "") and out.count("present ") == 3


def test_lock_of_named_references_and_a_json_report(
    source: ModelProvisioner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, locked, _ = cli_runner(source.home, None, capsys)("lock", Q4)
    (model,) = parse_lockfile(locked).models
    assert code == 0 and model.reference == f"hf:{Q4}"
    info = source.get_model_info(Q4)
    assert model.commit == info.commit
    assert {(f.path, f.size, f.sha256) for f in model.files} == {
        (f.path, f.size, f.sha256) for f in info.files
    }
    code, _, err = cli_runner(source.home, None, capsys)("lock", f"{GGUF_REPO}:Q2_K")
    assert code == 3 and err.count("\n") == 1


def test_sync_fetches_only_what_is_missing(
    source: ModelProvisioner, tmp_path: Path, hub_server: HubServer
) -> None:
    q8 = f"{GGUF_REPO}:Q8_0"
    lock = source.lock([Q4, q8, Q4])  # a reference named twice is locked once
    assert len(lock.models) == 2
    target = ModelProvisioner(tmp_path / "target", endpoint=hub_server.url)
    target.pull(Q4)
    q4_file, q8_file = (source.get_model_info(r).gguf_files[0] for r in (Q4, q8))
    before = {name: hub_server.bytes_served(name) for name in (q4_file, q8_file)}
    report = target.sync(lock)
    assert [(o.reference, o.status) for o in report.outcomes] == [
        (f"hf:{Q4}", "present"),
        (f"hf:{q8}", "installed"),
    ]
    q8_size = next(f.size for f in source.get_model_info(q8).files if f.path == q8_file)
    assert hub_server.bytes_served(q4_file) == before[q4_file]
    assert hub_server.bytes_served(q8_file) - before[q8_file] == q8_size


def test_a_hash_the_server_does_not_match_fails_that_model_with_exit_4(
    source: ModelProvisioner,
    tmp_path: Path,
    hub_server: HubServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lock = source.lock([Q4, f"{GGUF_REPO}:Q8_0"])
    text = dump_lockfile(lock)
    q8_sha = source.get_model_info(f"{GGUF_REPO}:Q8_0").files[0].sha256
    lockfile = tmp_path / "models.lock"
    lockfile.write_text(text.replace(q8_sha, "0" * 64))
    target = tmp_path / "target"
    code, out, err = cli_runner(target, hub_server.url, capsys)("sync", str(lockfile))
    assert code == 4
    assert err.startswith("error: sync incomplete: 1 of 2 models failed") and err.count("\n") == 1
    assert f"installed hf:{Q4}" in out
    assert f"failed    hf:{GGUF_REPO}:Q8_0: " in out and "sha256 mismatch" in out
    assert [m.reference for m in ModelProvisioner(target).list_models()] == [f"hf:{Q4}"]


def test_offline_sync_with_something_missing_reports_it(
    source: ModelProvisioner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lockfile = tmp_path / "models.lock"
    lockfile.write_text(dump_lockfile(source.lock([Q4])))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = cli_runner(tmp_path / "target", None, capsys)("sync", str(lockfile))
    assert code == 1 and "HF_HUB_OFFLINE" in out and err.startswith("error: sync incomplete")


def test_prune_removes_what_the_lockfile_omits_but_keeps_pins(
    source: ModelProvisioner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lockfile = tmp_path / "models.lock"
    lockfile.write_text(dump_lockfile(source.lock([Q4])))
    source.set_pinned(SAFETENSORS_REPO)
    run = cli_runner(source.home, None, capsys)
    code, out, _ = run("sync", str(lockfile))
    assert code == 0 and len(source.list_models()) == 3  # nothing removed unless asked
    code, out, _ = run("--json", "sync", "--prune", str(lockfile))
    outcomes = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert {o["reference"]: o["status"] for o in outcomes} == {
        f"hf:{Q4}": "present",
        f"hf:{GGUF_REPO}:Q8_0": "pruned",
        f"hf:{SAFETENSORS_REPO}": "kept (pinned)",
    }
    assert sorted(m.reference for m in source.list_models()) == [
        f"hf:{Q4}",
        f"hf:{SAFETENSORS_REPO}",
    ]
    assert source.verify_model(Q4).ok


def test_an_unreadable_or_invalid_lockfile_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = cli_runner(tmp_path / "home", None, capsys)
    code, _, err = run("sync", str(tmp_path / "absent.lock"))
    assert code == 2 and err.startswith("error: cannot read") and err.count("\n") == 1
    (tmp_path / "bad.lock").write_text('{"schema": 1, "models": [{"reference": 1}]}')
    code, _, err = run("sync", str(tmp_path / "bad.lock"))
    assert code == 2 and "models[0]" in err and err.count("\n") == 1


def test_a_server_sending_other_bytes_is_refused_with_exit_4(
    source: ModelProvisioner,
    tmp_path: Path,
    hub_server: HubServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lockfile = tmp_path / "models.lock"
    lockfile.write_text(dump_lockfile(source.lock([f"{GGUF_REPO}:Q8_0"])))
    hub_server.inject("*.Q8_0.gguf", "corrupt", times=None, offset=100, length=4)
    target = tmp_path / "target"
    code, out, err = cli_runner(target, hub_server.url, capsys)("sync", str(lockfile))
    assert code == 4 and "sha256 mismatch" in out and err.count("\n") == 1
    assert ModelProvisioner(target).list_models() == []
