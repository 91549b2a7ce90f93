"""info --remote: metadata from headers alone, over Range requests, never the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_provisioner import ModelProvisioner
from model_provisioner.cli import main
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo, make_safetensors_repo

SIZE = 128 << 20


def test_remote_gguf_metadata_reads_under_one_percent(
    home: Path, hub_server: HubServer, fixture_hub: FixtureHub
) -> None:
    make_gguf_repo(fixture_hub, "org/big-GGUF", quants=("Q4_K_M",), pad_to=SIZE, vocab_size=5000)
    found = ModelProvisioner(home, endpoint=hub_server.url).inspect_remote("org/big-GGUF")
    assert found.metadata is not None and found.error is None
    assert found.metadata.architecture == "llama" and found.metadata.vocab_size == 5000
    assert found.metadata.quantization == "Q4_K_M"
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
