"""A fixture Hub whose answers a test can rewrite: the hostile server of the trust tests.

``Hostility`` holds the hooks the running server consults on each answer, so one server serves
every case of a module and each test sets only what it needs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

OK_REPO = "ok/gguf"
EVIL_REPO = "evil/x"

Rewrite = Callable[[str, str, Any], Any]
HeaderRewrite = Callable[[str, str, dict[str, str]], dict[str, str]]


@dataclass
class Hostility:
    """What the server does to its answers now; ``reset`` makes it honest again."""

    body: Rewrite | None = None
    headers: HeaderRewrite | None = None
    only: str = EVIL_REPO  # answers about other repos stay honest
    moved: dict[str, str] = field(default_factory=dict)

    def rewrite(self, route: str, repo: str, body: Any) -> Any:
        if self.body is None or repo.casefold() != self.only.casefold():
            return body
        return self.body(route, repo, json.loads(json.dumps(body)))

    def rewrite_headers(self, repo: str, path: str, headers: dict[str, str]) -> dict[str, str]:
        if self.headers is None or repo.casefold() != self.only.casefold():
            return headers
        return self.headers(repo, path, dict(headers))

    def reset(self) -> None:
        self.body, self.headers, self.only = None, None, EVIL_REPO
        self.moved.clear()


def siblings(edit: Callable[[dict[str, Any]], Any]) -> Rewrite:
    """A body rewrite that edits each model-info sibling and each tree entry in place."""

    def rewrite(route: str, repo: str, body: Any) -> Any:
        items = body.get("siblings", []) if route == "model_info" else body
        for item in items:
            edit(item)
        return body

    return rewrite


Setup = Callable[["HostileHub"], None]


def together(*setups: Setup) -> Setup:
    """One setup that runs ``setups`` in order."""

    def setup(h: HostileHub) -> None:
        for each in setups:
            each(h)

    return setup


def strip(*keys: str) -> Setup:
    """Model-info siblings and tree entries without these fields."""

    def setup(h: HostileHub) -> None:
        h.hostility.body = siblings(lambda item: [item.pop(k, None) for k in keys])

    return setup


def no_hash_anywhere(h: HostileHub) -> None:
    """No blob id, no lfs block, no ETag: nothing publishes a hash for any file."""
    strip("blobId", "lfs", "oid")(h)
    h.hostility.headers = lambda repo, path, hd: {
        k: v for k, v in hd.items() if k not in ("ETag", "X-Linked-Etag")
    }


def info_field(name: str, value: Any) -> Rewrite:
    """A body rewrite that sets one top-level field of model info."""

    def rewrite(route: str, repo: str, body: Any) -> Any:
        if route == "model_info":
            body[name] = value
        return body

    return rewrite


@dataclass
class HostileHub:
    """The running server, its hooks, and the honest commits of both repos."""

    server: HubServer
    hub: FixtureHub
    hostility: Hostility
    ok_commit: str
    evil_commit: str

    @property
    def url(self) -> str:
        return self.server.url


def start_hostile_hub(root: Path, **options: Any) -> HostileHub:
    """Both repos (one tiny GGUF each) behind a server that consults a fresh ``Hostility``."""
    hub = FixtureHub(root)
    ok_commit = make_gguf_repo(hub, OK_REPO, ("Q4_K_M",), stem="ok")
    evil_commit = make_gguf_repo(hub, EVIL_REPO, ("Q4_K_M",), stem="evil")
    hostility = Hostility()
    server = HubServer(
        hub,
        rewrite=hostility.rewrite,
        rewrite_headers=hostility.rewrite_headers,
        moved=hostility.moved,
        **options,
    )
    server.start()
    return HostileHub(server, hub, hostility, ok_commit, evil_commit)


@pytest.fixture(scope="module")
def hostile_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileHub]:
    """One hostile server per test module; each test starts it honest."""
    served = start_hostile_hub(tmp_path_factory.mktemp("hostile-hub"))
    try:
        yield served
    finally:
        served.server.stop()


@pytest.fixture
def hostile(hostile_hub: HostileHub) -> Iterator[HostileHub]:
    hostile_hub.hostility.reset()
    hostile_hub.server.faults.clear()
    yield hostile_hub
    hostile_hub.hostility.reset()
    hostile_hub.server.faults.clear()
