"""The facade over the fixture Hub: pull is install's path, ``update=False`` trusts what is
installed without a request, the options pass through, a cancel is resumable."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from model_provisioner import Cancelled, ModelProvisioner
from model_provisioner._progress import DownloadProgress
from tests.conftest import FixtureRepo
from tests.hub import HubServer


def test_pull_is_installs_model_path_and_update_false_asks_nothing(
    home: Path, hub_server: HubServer, gguf_repo: FixtureRepo
) -> None:
    prov = ModelProvisioner(home, endpoint=hub_server.url)
    events: list[DownloadProgress] = []
    info = prov.install(gguf_repo.id, progress=events.append)
    assert events and events[-1].path == str(info.model_path)
    hub_server.clear_log()
    assert prov.pull(gguf_repo.id, update=False) == info.model_path
    assert hub_server.log() == []
    assert prov.pull(gguf_repo.id) == info.model_path  # update=True asks the Hub again
    hub_server.settle()
    assert hub_server.log()
    assert info.model_path.read_bytes() == gguf_repo.source(info.model_path.name).read_bytes()


def test_a_set_cancel_stops_the_pull_and_installs_nothing(
    home: Path, hub_server: HubServer, gguf_repo: FixtureRepo
) -> None:
    prov = ModelProvisioner(home, endpoint=hub_server.url)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        prov.pull(gguf_repo.id, cancel=cancel)
    assert prov.find_local_model(gguf_repo.id) is None
