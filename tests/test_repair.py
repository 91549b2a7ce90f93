"""Damage found later is quarantined, never handed out, and repaired for every entry sharing it.

Real pulls from the fixture Hub over loopback, real damage on disk, the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from model_provisioner import IntegrityError, ModelProvisioner
from model_provisioner._store import Store
from tests.cli_helpers import Run, cli_runner
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

REPO = "Org/Tiny-GGUF"
COPY = "Mirror/Copy-GGUF"


@pytest.fixture
def prov(home: Path, hub_server: HubServer, fixture_hub: FixtureHub) -> ModelProvisioner:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M", "Q8_0"))
    return ModelProvisioner(home, endpoint=hub_server.url)


@pytest.fixture
def cli(prov: ModelProvisioner, capsys: pytest.CaptureFixture[str]) -> Run:
    return cli_runner(prov.home, prov.endpoint, capsys)


def blob_of(prov: ModelProvisioner, model: Path) -> Path:
    (info,) = [m for m in prov.list_models() if m.model_path == model]
    (f,) = [f for f in info.files if f.path == model.name]
    return Store(prov.home).blob_path(f.sha256)


def flip_byte(prov: ModelProvisioner, model: Path, tmp: Path) -> None:
    os.chmod(model, 0o644)
    with open(model, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))


def delete_file(prov: ModelProvisioner, model: Path, tmp: Path) -> None:
    model.unlink()


def blob_to_symlink(prov: ModelProvisioner, model: Path, tmp: Path) -> None:
    """The blob name now points elsewhere (here at the very same bytes: still damage)."""
    blob = blob_of(prov, model)
    copy = tmp / "elsewhere.gguf"
    shutil.copyfile(blob, copy)
    blob.unlink()
    blob.symlink_to(copy)


def blob_to_folder(prov: ModelProvisioner, model: Path, tmp: Path) -> None:
    blob = blob_of(prov, model)
    blob.unlink()
    blob.mkdir()
    (blob / "x").write_bytes(b"x")


DAMAGE = {
    "flipped-byte": flip_byte,
    "deleted-file": delete_file,
    "blob-symlink": blob_to_symlink,
    "blob-folder": blob_to_folder,
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damage_is_caught_refused_meanwhile_and_repaired(
    prov: ModelProvisioner,
    cli: Run,
    hub_server: HubServer,
    tmp_path: Path,
    damage: Callable[[ModelProvisioner, Path, Path], None],
) -> None:
    model = prov.pull(REPO)
    good = model.read_bytes()
    damage(prov, model, tmp_path)

    code, out, err = cli("verify", REPO)
    assert code == 4 and model.name in out and err.startswith("error: ")
    code, out, err = cli("path", REPO)
    assert (code, out) == (4, "") and f"provisioner pull hf:{REPO}" in err
    assert err.count("\n") == 1
    with pytest.raises(IntegrityError):
        prov.find_local_model(REPO)
    quarantined = (
        list(Store(prov.home).quarantine.iterdir()) if Store(prov.home).quarantine.exists() else []
    )
    assert damage is delete_file or quarantined  # bad content never stays under its blob name

    code, out, _ = cli("verify", "--repair", REPO)
    assert code == 0 and f"repaired {model.name}" in out and f"✓ hf:{REPO}" in out
    assert model.read_bytes() == good and model.stat().st_ino == blob_of(prov, model).stat().st_ino
    assert cli("verify", REPO)[0] == 0
    assert cli("path", REPO) == (0, f"{model}\n", "")


def test_pull_of_an_installed_model_checks_its_files_and_refetches(
    prov: ModelProvisioner, cli: Run, hub_server: HubServer
) -> None:
    model = prov.pull(REPO)
    good = model.read_bytes()
    blob_of(prov, model).unlink()  # the blob is gone: the model-folder file is not the blob
    model.unlink()
    hub_server.clear_log()
    code, out, _ = cli("pull", REPO)
    assert code == 0 and f"repaired {model.name}: missing" in out and "✓" in out
    assert [r.path for r in hub_server.log() if "/resolve/" in r.path]
    assert model.read_bytes() == good and prov.verify_model(REPO).ok

    # Whole again: a second pull fetches nothing and repairs nothing.
    hub_server.clear_log()
    code, out, _ = cli("pull", "--no-update", REPO)
    assert code == 0 and "repaired" not in out and not hub_server.log()


def test_a_missing_link_with_a_whole_blob_is_relinked_without_fetching(
    prov: ModelProvisioner, cli: Run, hub_server: HubServer
) -> None:
    model = prov.pull(REPO)
    model.unlink()
    hub_server.clear_log()
    code, out, _ = cli("--json", "pull", REPO)
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert {"event": "repaired", "problems": [f"{model.name}: missing"], "schema": 1} in events
    assert not [r for r in hub_server.log() if "/resolve/" in r.path]
    assert prov.verify_model(REPO).ok


@pytest.fixture
def shared(prov: ModelProvisioner, fixture_hub: FixtureHub) -> tuple[Path, Path]:
    """Two repos whose GGUF is one blob."""
    original = prov.pull(REPO)
    fixture_hub.add_commit(COPY, {"copy.Q4_K_M.gguf": original})
    copy = prov.pull(COPY)
    assert copy.stat().st_ino == original.stat().st_ino
    return original, copy


def test_a_shared_blob_is_repaired_for_both_entries(
    prov: ModelProvisioner, cli: Run, shared: tuple[Path, Path], tmp_path: Path
) -> None:
    original, copy = shared
    good = original.read_bytes()
    flip_byte(prov, original, tmp_path)
    assert cli("verify", REPO)[0] == 4
    assert cli("path", COPY)[0] == 4  # the other entry is refused too: its blob is quarantined

    code, out, _ = cli("verify", "--repair", REPO)
    assert code == 0 and f"also repaired hf:{COPY}" in out
    for path, ref in ((original, REPO), (copy, COPY)):
        assert path.read_bytes() == good and prov.verify_model(ref).ok
    assert original.stat().st_ino == copy.stat().st_ino


def test_rm_and_pull_never_reuse_a_bad_shared_blob(
    prov: ModelProvisioner, cli: Run, shared: tuple[Path, Path], tmp_path: Path
) -> None:
    original, copy = shared
    good = original.read_bytes()
    flip_byte(prov, original, tmp_path)
    assert cli("verify", "--all")[0] == 4
    assert cli("rm", REPO)[0] == 0
    assert cli("pull", REPO)[0] == 0
    assert original.read_bytes() == good and prov.verify_model(REPO).ok
    assert cli("path", COPY)[0] == 4  # still the damaged inode until pulled again
    code, out, _ = cli("pull", COPY)
    assert code == 0 and "repaired copy.Q4_K_M.gguf" in out
    assert copy.read_bytes() == good and prov.verify_model(COPY).ok


def test_the_mirror_never_serves_a_symlinked_or_quarantined_blob(
    prov: ModelProvisioner, tmp_path: Path
) -> None:
    from tests.server_helpers import serve

    model = prov.pull(REPO)
    secret = tmp_path / "secret"
    secret.write_bytes(b"S" * model.stat().st_size)
    blob = blob_of(prov, model)
    blob.unlink()
    blob.symlink_to(secret)
    with serve(prov.home, prov.endpoint) as served, served.client() as client:
        got = client.get(f"/{REPO}/resolve/main/{model.name}")
        assert got.status_code == 404 and b"SSSS" not in got.content
        listed = client.get(f"/api/models/{REPO}").json()
        assert model.name not in [s["rfilename"] for s in listed["siblings"]]


def test_gc_removes_quarantined_content_once_old_enough(
    prov: ModelProvisioner, cli: Run, tmp_path: Path
) -> None:
    model = prov.pull(REPO)
    flip_byte(prov, model, tmp_path)
    assert cli("verify", REPO)[0] == 4
    (aside,) = Store(prov.home).quarantine.iterdir()
    assert aside not in prov.collect_garbage(older_than=3600) and aside.exists()
    assert cli("verify", "--repair", REPO)[0] == 0
    assert aside in prov.collect_garbage(older_than=0) and not aside.exists()
    assert prov.verify_model(REPO).ok


def test_pull_repair_hashes_first_and_fetches_what_stat_cannot_see(
    prov: ModelProvisioner, cli: Run, shared: tuple[Path, Path], tmp_path: Path
) -> None:
    original, copy = shared
    good = original.read_bytes()
    flip_byte(prov, original, tmp_path)
    code, out, _ = cli("pull", "--no-update", REPO)  # stat sees nothing wrong
    assert code == 0 and "repaired" not in out
    code, out, _ = cli("pull", "--repair", REPO)
    assert code == 0 and f"repaired {original.name}: sha256 mismatch" in out
    for path, ref in ((original, REPO), (copy, COPY)):
        assert path.read_bytes() == good and prov.verify_model(ref).ok
    assert cli("pull", "--repair", "Org/Tiny-GGUF:Q8_0")[0] == 0  # not installed: a plain pull
