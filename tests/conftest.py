"""Shared fixtures: a loopback-only network, the fixture Hub and its server, real model repos.

Expensive repos (the 90 MB MiniLM, GGUF sets) are built once per session in a seed hub and
hard-linked into each test's own hub, so a test may add commits or move branches freely. Never
modify a file of a fixture repo in place: its inode is shared with the seed (add a commit).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hub import FixtureHub, HubServer
from tests.hub.shaped_link import SHAPED_SUBNET
from tests.hub_hostile import hostile, hostile_hub  # noqa: F401 (fixtures for the trust tests)
from tests.makers import make_gguf_repo, make_safetensors_repo, make_split_gguf_repo

GGUF_REPO = "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"
SPLIT_GGUF_REPO = "Fixture/Split-Llama-GGUF"
SAFETENSORS_REPO = "sentence-transformers/all-MiniLM-L6-v2"
FIXTURE_TOKEN = "hf_fixture_token"
DEAD_ENDPOINT = "http://127.0.0.1:9"  # discard port: anything not given the fixture URL fails fast

# huggingface_hub reads its environment once, at import: make its defaults hermetic before any
# test module imports it.
os.environ["HF_ENDPOINT"] = DEAD_ENDPOINT
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
for _name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
    os.environ.pop(_name, None)


@dataclass(frozen=True)
class FixtureRepo:
    """A repo seeded into the test's hub."""

    id: str
    commit: str
    hub: FixtureHub

    def source(self, path: str) -> Path:
        """The served bytes of ``path`` at the seeded commit, to compare downloads against."""
        return self.hub.file_path(self.id, self.commit, path)

    def files(self) -> list[str]:
        """Every path in the seeded commit."""
        return sorted(self.hub.entries(self.id, self.commit))


# -- network guard -----------------------------------------------------------------------------


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name in ("localhost", ""):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    # The shaped link's namespaces (tests/hub/shaped_link.py) are on this machine too.
    return address.is_loopback or address in SHAPED_SUBNET


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """No test may resolve or connect to anything but loopback (so never huggingface.co)."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"tests are loopback-only; refused {host!r}")
        return real(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", guarded)
        yield


# -- hubs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seed_hub(tmp_path_factory: pytest.TempPathFactory) -> FixtureHub:
    """Built once: the GGUF, split GGUF and MiniLM repos (hard-linked into each test's hub)."""
    hub = FixtureHub(tmp_path_factory.mktemp("seed-hub"))
    make_gguf_repo(hub, GGUF_REPO)
    make_split_gguf_repo(hub, SPLIT_GGUF_REPO)
    make_safetensors_repo(hub, SAFETENSORS_REPO)
    return hub


@pytest.fixture
def fixture_hub(tmp_path: Path) -> FixtureHub:
    """An empty hub of this test's own."""
    return FixtureHub(tmp_path / "hub")


def _seed(seed_hub: FixtureHub, hub: FixtureHub, repo_id: str) -> FixtureRepo:
    source = seed_hub.find_repo(repo_id)
    assert source is not None
    target = hub.root / repo_id.lower()
    if not target.exists():
        shutil.copytree(source.dir, target, copy_function=_link)
    repo = hub.find_repo(repo_id)
    assert repo is not None
    commit = hub.resolve(repo, "main")
    assert commit is not None
    return FixtureRepo(repo.id, commit, hub)


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@pytest.fixture
def gguf_repo(seed_hub: FixtureHub, fixture_hub: FixtureHub) -> FixtureRepo:
    """TheBloke-style repo: ``tinyllama-1.1b-chat-v1.0.{Q4_K_M,Q8_0,F16}.gguf`` + README etc."""
    return _seed(seed_hub, fixture_hub, GGUF_REPO)


@pytest.fixture
def split_gguf_repo(seed_hub: FixtureHub, fixture_hub: FixtureHub) -> FixtureRepo:
    """One quant split in 3 parts: ``split-llama-Q4_K_M-0000i-of-00003.gguf``."""
    return _seed(seed_hub, fixture_hub, SPLIT_GGUF_REPO)


@pytest.fixture
def safetensors_repo(seed_hub: FixtureHub, fixture_hub: FixtureHub) -> FixtureRepo:
    """Real all-MiniLM-L6-v2 plus onnx/bin/h5/msgpack duplicates a default pull must skip."""
    return _seed(seed_hub, fixture_hub, SAFETENSORS_REPO)


# -- server and environment ---------------------------------------------------------------------


@pytest.fixture
def hub_server(fixture_hub: FixtureHub) -> Iterator[HubServer]:
    """The fixture server over this test's hub (URL in ``.url``, CDN in ``.cdn_url``)."""
    server = HubServer(fixture_hub)
    server.start()
    try:
        yield server
    finally:
        server.faults.clear()
        server.stop()


@pytest.fixture
def hf_env(hub_server: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HubServer:
    """Environment pointing Hub clients at the fixture server: HF_ENDPOINT, a private HF_HOME,
    no token, not offline. (huggingface_hub's own constants were frozen at import: pass
    ``endpoint=`` to it explicitly, or read ``os.environ`` at call time.)"""
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return hub_server


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh provisioner home, also exported as PROVISIONER_HOME."""
    path = tmp_path / "provisioner-home"
    path.mkdir()
    monkeypatch.setenv("PROVISIONER_HOME", str(path))
    return path
