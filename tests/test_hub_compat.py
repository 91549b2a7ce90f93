"""Hub-compatible servers that are not the Hub: pull + verify under each mirror behaviour.

huggingface_hub's own client is the control: against the same server it must fetch the same
bytes, so a switch that broke the protocol itself would show there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from model_provisioner import ModelNotFound, ModelProvisioner
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

REPO = "Mirror/Compat-GGUF"
GGUF = "compat.Q4_K_M.gguf"
BIG = 3 << 20  # above the CDN threshold: redirected, fetched in Range parts

SWITCHES: dict[str, dict[str, Any]] = {
    "hub": {},
    "no-model-info-route": {"mirror": True},
    "401-for-every-miss": {"miss_status": 401},
    "weak-etags": {"weak_etags": True},
    "ignores-range": {"ignore_range": True},
    "no-x-linked-headers": {"linked_headers": False},
    "paginated-tree": {"mirror": True, "page_size": 1},
    "hashless-model-info": {"listing_hashes": False},
    "all-at-once": {
        "mirror": True,
        "miss_status": 401,
        "weak_etags": True,
        "ignore_range": True,
        "linked_headers": False,
        "page_size": 1,
    },
}


@pytest.fixture(scope="module")
def compat_hub(tmp_path_factory: pytest.TempPathFactory) -> tuple[FixtureHub, str]:
    hub = FixtureHub(tmp_path_factory.mktemp("compat-hub"))
    commit = make_gguf_repo(hub, REPO, ("Q4_K_M",), stem="compat", pad_to=BIG)
    return hub, commit


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_pull_and_verify_under_each_mirror_behaviour(
    switch: str, compat_hub: tuple[FixtureHub, str], tmp_path: Path
) -> None:
    hub, commit = compat_hub
    with HubServer(hub, **SWITCHES[switch]) as server:
        prov = ModelProvisioner(tmp_path / "home", endpoint=server.url)
        info = prov.install(REPO)
        assert info.commit == commit and not info.unverified_files
        assert prov.verify_model(REPO).ok
        source = hub.file_path(REPO, commit, GGUF)
        assert info.model_path.read_bytes() == source.read_bytes()
        assert server.bytes_served(GGUF) <= source.stat().st_size * 1.1, "over-fetched"

        control = hf_hub_download(
            REPO, GGUF, endpoint=server.url, cache_dir=tmp_path / "hf", token=False
        )
        assert Path(control).read_bytes() == source.read_bytes()
        if not SWITCHES[switch].get("mirror"):
            folder = snapshot_download(
                REPO, endpoint=server.url, cache_dir=tmp_path / "hf2", token=False
            )
            assert (Path(folder) / GGUF).read_bytes() == source.read_bytes()


@pytest.mark.parametrize("switch", ["401-for-every-miss", "all-at-once"])
def test_a_miss_on_a_401_mirror_says_not_found_or_needs_a_token(
    switch: str, compat_hub: tuple[FixtureHub, str], tmp_path: Path
) -> None:
    hub, _ = compat_hub
    with HubServer(hub, **SWITCHES[switch]) as server:
        prov = ModelProvisioner(tmp_path / "home", endpoint=server.url)
        with pytest.raises(ModelNotFound, match="not found, or needs a token") as caught:
            prov.install("Mirror/Absent-GGUF")
        assert caught.value.exit_code == 3
        assert prov.list_models() == []
