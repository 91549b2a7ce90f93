"""The platform helper's fallbacks, each run for real with the Linux-only calls switched off."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model_provisioner import ModelProvisioner, _platform
from tests.hub import FixtureHub, HubServer
from tests.makers import make_gguf_repo
from tests.platform_helpers import without_linux_calls


@pytest.fixture
def portable(monkeypatch: pytest.MonkeyPatch) -> None:
    without_linux_calls(monkeypatch)


@pytest.fixture
def fd(tmp_path: Path) -> int:
    descriptor = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(descriptor, b"0123456789" * 1000)
    return descriptor


def test_datasync_falls_back_to_fsync(
    portable: None, fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = os.fsync

    def fsync(f: int) -> None:
        synced.append(f)
        real(f)

    monkeypatch.setattr(os, "fsync", fsync)
    _platform.datasync(fd)
    assert synced == [fd]
    os.close(fd)


def test_the_other_fallbacks_do_nothing_harmful(portable: None, fd: int) -> None:
    _platform.start_writeback(fd, 0, 10_000)
    _platform.write_out_and_drop(fd, 0, 10_000)
    _platform.preallocate(fd, 1 << 20)  # no fallocate: the file keeps its size
    assert os.fstat(fd).st_size == 10_000
    assert _platform.open_direct(fd) == -1
    view = memoryview(bytearray(16))
    assert _platform.read_into(fd, view, 5) == 16 and bytes(view) == b"5678901234567890"
    os.close(fd)


def test_the_linux_calls_where_present(fd: int) -> None:
    """On Linux (where the suite runs in CI) the real calls are taken and behave."""
    if not _platform.CAPS.fallocate:
        pytest.skip("not Linux")
    _platform.datasync(fd)
    _platform.start_writeback(fd, 0, 10_000)
    _platform.write_out_and_drop(fd, 0, 10_000)
    _platform.preallocate(fd, 1 << 20)
    view = memoryview(bytearray(4))
    assert _platform.read_into(fd, view, 0) == 4 and bytes(view) == b"0123"
    direct = _platform.open_direct(fd)
    if direct >= 0:
        os.close(direct)
    os.close(fd)


def test_a_whole_pull_verify_and_delete_without_linux_calls(
    portable: None, home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    """Plan, transfer, fsync, commit, manifest, verify: the store's path as on macOS."""
    commit = make_gguf_repo(fixture_hub, "theorg/tiny-gguf")
    prov = ModelProvisioner(home, endpoint=hub_server.url)
    path = prov.pull("theorg/tiny-gguf")
    source = fixture_hub.file_path("theorg/tiny-gguf", commit, path.name)
    assert path.read_bytes() == source.read_bytes()
    assert prov.verify_model("theorg/tiny-gguf").ok
    prov.delete_model("theorg/tiny-gguf")
    assert prov.find_local_model("theorg/tiny-gguf") is None


SHM = Path("/dev/shm")


@pytest.mark.skipif(not SHM.is_dir() or not os.access(SHM, os.W_OK), reason="no /dev/shm")
@pytest.mark.parametrize("linux_calls", [True, False])
def test_a_store_on_tmpfs(
    linux_calls: bool,
    hub_server: HubServer,
    fixture_hub: FixtureHub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store on tmpfs (a RAM disk; O_DIRECT refused there before Linux 6.6), with and without
    the Linux-only calls: pulled several connections wide, verified, removed."""
    import shutil
    import tempfile

    if not linux_calls:
        without_linux_calls(monkeypatch)
    commit = make_gguf_repo(fixture_hub, "theorg/ram-gguf", pad_to=4 << 20)
    home = Path(tempfile.mkdtemp(prefix="provisioner-test-", dir=SHM))
    try:
        prov = ModelProvisioner(home, endpoint=hub_server.url)
        path = prov.pull("theorg/ram-gguf")
        source = fixture_hub.file_path("theorg/ram-gguf", commit, path.name)
        assert path.read_bytes() == source.read_bytes()
        assert prov.verify_model("theorg/ram-gguf").ok
        prov.delete_model("theorg/ram-gguf")
        assert prov.find_local_model("theorg/ram-gguf") is None
    finally:
        shutil.rmtree(home)
