"""Last use and pins: which lookups count, that recording never needs a writable store."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from model_provisioner import ModelProvisioner
from model_provisioner._catalog import Catalog
from model_provisioner._store import Store
from tests.cli_helpers import cli_runner
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.lifecycle_helpers import LONG_AGO, age
from tests.makers import make_gguf_repo
from tests.server_helpers import serve

REPO = "Org/Used-GGUF"


@pytest.fixture
def provisioner(home: Path, hub_server: HubServer, fixture_hub: FixtureHub) -> ModelProvisioner:
    make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M", "Q8_0"))
    p = ModelProvisioner(home, endpoint=hub_server.url)
    p.pull(f"{REPO}:Q4_K_M")
    p.pull(f"{REPO}:Q8_0")
    return p


def test_a_pull_records_a_use(provisioner: ModelProvisioner) -> None:
    assert provisioner.last_used(f"{REPO}:Q4_K_M") > LONG_AGO


def test_path_and_find_local_model_count_as_uses(
    provisioner: ModelProvisioner, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    q4, q8 = f"{REPO}:Q4_K_M", f"{REPO}:Q8_0"
    age(provisioner, q4)
    age(provisioner, q8)
    code, out, _ = cli_runner(home, None, capsys)("path", q4)
    assert code == 0 and out.strip().endswith(".Q4_K_M.gguf")
    assert provisioner.last_used(q4) > LONG_AGO
    assert provisioner.last_used(q8) == LONG_AGO  # list, info and verify are not uses
    cli_runner(home, None, capsys)("list")
    provisioner.get_model_info(q8)
    provisioner.verify_model(q8)
    assert provisioner.last_used(q8) == LONG_AGO
    assert provisioner.find_local_model(q8) is not None
    assert provisioner.last_used(q8) > LONG_AGO


def test_the_service_path_and_mirror_routes_count_as_uses(
    provisioner: ModelProvisioner, home: Path
) -> None:
    q4, q8 = f"{REPO}:Q4_K_M", f"{REPO}:Q8_0"
    age(provisioner, q4)
    age(provisioner, q8)
    with serve(home) as served, served.client() as client:
        assert client.get(f"/v1/paths/{quote(q4, safe='/:')}").status_code == 200
        assert provisioner.last_used(q4) > LONG_AGO
        assert provisioner.last_used(q8) == LONG_AGO
        name = provisioner.get_model_info(q8).gguf_files[0]
        got = httpx.get(f"{served.url}/{REPO}/resolve/main/{name}")
        assert got.status_code == 200
        assert provisioner.last_used(q8) > LONG_AGO


def test_recording_needs_no_writable_store(
    provisioner: ModelProvisioner, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Markers that cannot be written (the usage folder is a file here; a read-only mount
    or another user's store fails the same way) leave ``path`` answering as before."""
    q4 = f"{REPO}:Q4_K_M"
    expected = provisioner.find_local_model(q4)
    (home / "usage").rename(home / "usage-moved")
    (home / "usage").write_text("not a folder")
    code, out, err = cli_runner(home, None, capsys)("path", q4)
    assert (code, out, err) == (0, f"{expected}\n", "")
    assert provisioner.find_local_model(q4) == expected


def test_pin_and_unpin_from_the_command_line(
    provisioner: ModelProvisioner, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = cli_runner(home, None, capsys)
    assert run("pin", f"{REPO}:q4_k_m") == (0, f"pinned hf:{REPO}:Q4_K_M\n", "")
    assert provisioner.is_pinned(f"{REPO}:Q4_K_M")
    assert not provisioner.is_pinned(f"{REPO}:Q8_0")
    assert run("unpin", f"{REPO}:Q4_K_M") == (0, f"unpinned hf:{REPO}:Q4_K_M\n", "")
    assert not provisioner.is_pinned(f"{REPO}:Q4_K_M")
    code, _, err = run("pin", f"{REPO}:Q2_K")
    assert code == 3 and err.startswith("error: ") and err.count("\n") == 1


def test_rm_forgets_the_pin_and_the_last_use(provisioner: ModelProvisioner) -> None:
    q4 = f"{REPO}:Q4_K_M"
    provisioner.set_pinned(q4)
    manifest = Catalog(Store(provisioner.home)).get(provisioner.parse(q4)).manifest
    provisioner.delete_model(q4)
    store = Store(provisioner.home)
    assert not store.pin_marker(manifest).exists()
    assert not store.usage_marker(manifest).exists()
    provisioner.pull(q4)
    assert not provisioner.is_pinned(q4)


def test_path_on_a_read_only_mount_answers_and_records_nothing(
    tmp_path: Path,
    hub_server: HubServer,
    fixture_hub: FixtureHub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """EROFS, for real: a tmpfs remounted read-only under the store."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8M", "tmpfs", str(mount)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        make_gguf_repo(fixture_hub, REPO, quants=("Q4_K_M",))
        p = ModelProvisioner(mount / "home", endpoint=hub_server.url)
        expected = p.pull(REPO)
        age(p, REPO)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        code, out, err = cli_runner(mount / "home", None, capsys)("path", REPO)
        assert (code, out, err) == (0, f"{expected}\n", "")
        assert p.find_local_model(REPO) == expected
        assert p.last_used(REPO) == LONG_AGO
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
