"""info --remote: metadata from headers alone, over Range requests, never the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_provisioner import ModelProvisioner, NetworkError
from model_provisioner.cli import main
from tests.hub.faults import FaultKind
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo, make_safetensors_repo
from tests.transfer_helpers import FAST

SIZE = 128 << 20


def test_remote_gguf_metadata_reads_under_one_percent(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, "org/big-GGUF", quants=("Q4_K_M",), pad_to=SIZE, vocab_size=5000)
    found = ModelProvisioner(home, endpoint=hub_server.url).inspect_remote("org/big-GGUF")
    assert found.metadata is not None and found.error is None
    assert found.metadata.architecture == "llama" and found.metadata.vocab_size == 5000
    assert found.metadata.quantization == "Q4_K_M"
    hub_server.settle()
    served = hub_server.bytes_served("big.Q4_K_M.gguf")
    assert 0 < found.bytes_read <= served < SIZE // 100
    assert ModelProvisioner(home).list_models() == []


def test_remote_safetensors_through_the_cli(
    home: Path,
    hub_server: HubServer,
    fixture_hub: FixtureHub,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_safetensors_repo(fixture_hub, "st/minilm")
    with pytest.raises(SystemExit) as done:
        main(["--endpoint", hub_server.url, "--json", "info", "--remote", "st/minilm"])
    assert done.value.code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metadata"]["model_type"] == "bert"
    assert data["metadata"]["parameter_count"] == 22_713_728
    assert data["bytes_read"] < data["bytes_total"] // 10


REMOTE = "org/remote-GGUF"
REMOTE_FILE = "remote.Q4_K_M.gguf"


def remote_provisioner(home: Path, url: str) -> ModelProvisioner:
    return ModelProvisioner(home, endpoint=url, transfer=FAST)


def test_remote_reads_follow_the_redirect_once_and_keep_the_token_home(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(
        fixture_hub, REMOTE, quants=("Q4_K_M",), pad_to=8 << 20, stem="remote", vocab_size=60000
    )
    provisioner = ModelProvisioner(home, endpoint=hub_server.url, token="hf_fixture_token")
    found = provisioner.inspect_remote(REMOTE)
    assert found.metadata is not None and found.requests >= 2
    hub_server.settle()
    log = [e for e in hub_server.log() if e.file == REMOTE_FILE]
    assert [e.listener for e in log].count("hub") == 1
    assert all(e.authorization for e in log if e.listener == "hub")
    assert not any(e.authorization for e in log if e.listener == "cdn")


@pytest.mark.parametrize(
    ("kind", "params"),
    [("reset", {"after_bytes": 1000}), ("ignore_range", {}), ("status", {"status": 503})],
)
def test_remote_reads_survive_what_downloads_survive(
    home: Path,
    hub_server: HubServer,
    fixture_hub: FixtureHub,
    kind: FaultKind,
    params: dict[str, int],
) -> None:
    make_gguf_repo(
        fixture_hub, REMOTE, quants=("Q4_K_M",), pad_to=8 << 20, stem="remote", vocab_size=60000
    )
    fault = hub_server.inject(REMOTE_FILE, kind, where="cdn", **params)
    found = remote_provisioner(home, hub_server.url).inspect_remote(REMOTE)
    assert fault.fired == 1
    assert found.metadata is not None and found.metadata.quantization == "Q4_K_M"


def test_a_cdn_that_keeps_failing_is_one_error(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(
        fixture_hub, REMOTE, quants=("Q4_K_M",), pad_to=8 << 20, stem="remote", vocab_size=60000
    )
    hub_server.inject(REMOTE_FILE, "status", where="cdn", times=None, status=500)
    with pytest.raises(NetworkError, match=r"HTTP 500 from http://127\.0\.0\.2:\d+/repos/.* tries"):
        remote_provisioner(home, hub_server.url).inspect_remote(REMOTE)
