"""provisioner search: GGUF repos from the Hub's search API, through huggingface_hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner import ModelProvisioner, NetworkError, UsageError
from model_provisioner._search import _hit
from model_provisioner.cli import main
from tests.conftest import DEAD_ENDPOINT
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo, make_safetensors_repo


@pytest.fixture
def prov(home: Path, hub_server: HubServer, fixture_hub: FixtureHub) -> ModelProvisioner:
    make_gguf_repo(fixture_hub, "TheBloke/Llama-2-7B-GGUF", quants=("Q4_K_M",))
    make_gguf_repo(fixture_hub, "bartowski/Llama-3.2-1B-GGUF", quants=("Q4_K_M",))
    make_gguf_repo(fixture_hub, "Qwen/Qwen2.5-0.5B-GGUF", quants=("Q4_K_M",))
    make_safetensors_repo(fixture_hub, "meta-llama/Llama-3.2-1B")
    prov = ModelProvisioner(home, endpoint=hub_server.url)
    prov.pull("bartowski/Llama-3.2-1B-GGUF")  # one download: it sorts first
    return prov


def test_search_finds_gguf_repos_most_downloaded_first(prov: ModelProvisioner) -> None:
    hits = prov.search("LLAMA")
    assert [(h.repo, h.downloads > 0) for h in hits] == [
        ("bartowski/Llama-3.2-1B-GGUF", True),
        ("TheBloke/Llama-2-7B-GGUF", False),
    ]
    assert [h.repo for h in prov.search("llama", limit=1)] == ["bartowski/Llama-3.2-1B-GGUF"]
    assert prov.search("no-such-model") == []
    for bad in ("", " ", "x" * 201, "a\nb"):
        with pytest.raises(UsageError):
            prov.search(bad)


def test_search_through_the_cli(
    prov: ModelProvisioner, hub_server: HubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--home", str(prov.home), "--endpoint", hub_server.url, "search"]
    with pytest.raises(SystemExit) as done:
        main([*args, "qwen"])
    out = capsys.readouterr().out
    (line,) = out.splitlines()
    repo, downloads, likes, modified = line.split("\t")
    assert (done.value.code, repo, downloads, likes) == (0, "Qwen/Qwen2.5-0.5B-GGUF", "0", "0")
    assert len(modified) == 10 and modified[4] == "-"
    with pytest.raises(SystemExit) as done:
        main([*args, "--json", "llama"])
    hits = json.loads(capsys.readouterr().out)
    assert done.value.code == 0
    assert [h["repo"] for h in hits] == ["bartowski/Llama-3.2-1B-GGUF", "TheBloke/Llama-2-7B-GGUF"]
    with pytest.raises(SystemExit) as done:
        main([*args, "nothing-like-it"])
    assert (done.value.code, capsys.readouterr().err) == (
        0,
        "no GGUF repository matches 'nothing-like-it'\n",
    )


def test_a_failing_search_is_a_network_error(home: Path, hub_server: HubServer) -> None:
    wrong = ModelProvisioner(home, endpoint=hub_server.url + "/not-the-api")
    with pytest.raises(NetworkError, match="HTTP 404"):
        wrong.search("llama")


@given(
    st.one_of(st.none(), st.text(max_size=120), st.integers()),
    st.one_of(st.none(), st.integers(), st.booleans(), st.text(max_size=5)),
)
def test_a_hostile_hit_is_dropped_or_cleaned(repo: object, count: object) -> None:
    hit = _hit(SimpleNamespace(id=repo, downloads=count, likes=count, last_modified="2024"))
    if hit is not None:
        assert isinstance(repo, str) and hit.repo == repo and "/" in hit.repo
        assert hit.downloads >= 0 and hit.likes >= 0 and hit.modified is None


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[str]:
    """Python's own static file server (not ours): a folder ``api/models`` answers the search
    route with an HTML listing, anything else with 404."""
    (tmp_path / "site" / "api" / "models").mkdir(parents=True)
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_without_a_search_api_says_so(home: Path, static_server: str) -> None:
    with pytest.raises(NetworkError) as html:
        ModelProvisioner(home, endpoint=static_server).search("llama")
    assert str(html.value) == f"{static_server} answered the search with something not JSON"
    with pytest.raises(NetworkError) as missing:
        ModelProvisioner(home, endpoint=static_server + "/elsewhere").search("llama")
    assert str(missing.value) == f"{static_server} has no model search (HTTP 404)"


def test_an_unreachable_endpoint_is_one_line_after_a_few_quick_retries(home: Path) -> None:
    """huggingface_hub alone retries a refused connection 5 times over 23 s, printing a
    warning line each time; the search client retries like the metadata client does."""
    ran = subprocess.run(
        [str(Path(sys.executable).with_name("provisioner")), "--home", str(home), "search", "x"],
        env={**os.environ, "HF_ENDPOINT": DEAD_ENDPOINT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == f"error: cannot reach {DEAD_ENDPOINT}: ConnectError\n"


def test_a_stalled_search_times_out(
    home: Path, hub_server: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """huggingface_hub's default client has no timeout at all: a stalled server held the
    search forever."""
    monkeypatch.setenv("PROVISIONER_HUB_TIMEOUT", "0.5")
    hub_server.inject("/api/models", "hang", seconds=5.0, times=None)
    with pytest.raises(NetworkError, match=f"cannot reach {hub_server.url}: timed out"):
        ModelProvisioner(home, endpoint=hub_server.url).search("llama")


def test_a_failing_search_server_is_retried_a_little_then_one_line(
    home: Path, hub_server: HubServer
) -> None:
    fault = hub_server.inject("/api/models", "status", status=503, times=None)
    ran = subprocess.run(
        [str(Path(sys.executable).with_name("provisioner")), "--home", str(home), "search", "x"],
        env={**os.environ, "HF_ENDPOINT": hub_server.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == f"error: {hub_server.url}'s search failed: HTTP 503\n"
    assert fault.fired == 3


def test_only_public_huggingface_hub_names_are_used() -> None:
    """A private name (``huggingface_hub.utils._http.hf_request_event_hook`` was one) can
    change in any release: every import of huggingface_hub in src names a public module or a
    name huggingface_hub exports, and each still exists."""
    import ast
    import importlib

    import huggingface_hub

    import model_provisioner

    exported = set(huggingface_hub.__all__)
    found = []
    for source in Path(model_provisioner.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names if a.name.startswith("huggingface_hub")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "huggingface_hub"
            ):
                module = node.module or ""
                modules = [module]
                for alias in node.names:
                    found.append((source.name, f"{module}.{alias.name}"))
                    assert not alias.name.startswith("_"), (source, alias.name)
                    loaded = importlib.import_module(module)
                    assert hasattr(loaded, alias.name), (source, module, alias.name)
                    if module == "huggingface_hub":
                        is_module = importlib.util.find_spec(f"{module}.{alias.name}") is not None
                        assert alias.name in exported or is_module, (source, alias.name)
            for module in modules:
                assert not any(part.startswith("_") for part in module.split(".")), (source, module)
    assert ("_search.py", "huggingface_hub.set_client_factory") in found
