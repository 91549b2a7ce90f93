"""schemathesis against /openapi.json on a real uvicorn: no generated input may cause a 500.

The store holds one model so that lookups sometimes succeed; the endpoint is a dead port so a
download job started by generated input fails fast instead of reaching any network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
import httpx  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from model_provisioner._store import Store  # noqa: E402
from model_provisioner.server import ServiceOptions  # noqa: E402
from tests.conftest import DEAD_ENDPOINT  # noqa: E402
from tests.server_helpers import Served, serve  # noqa: E402
from tests.store_builders import entry, put_blob  # noqa: E402

COMMIT = "5" * 40

TOKEN = "schema-token"


HELD = "org/repo"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("schema-home")
    store = Store(home)
    store.ensure()
    entry(store, HELD, COMMIT, {"README.md": put_blob(store, b"# a model card\n")})
    with serve(home, DEAD_ENDPOINT, options=ServiceOptions(token=TOKEN)) as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(served: Served) -> Any:
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json", headers=AUTH)


def test_the_held_model_reaches_the_success_paths(served: Served) -> None:
    """Generated names rarely hit the one model held: its routes are asked by name here."""
    with httpx.Client(base_url=served.url, headers=AUTH, timeout=10) as client:
        listed = client.get("/v1/models").json()
        assert [m["reference"] for m in listed] == [f"hf:{HELD}"]
        for path in (
            f"/v1/models/{HELD}",
            f"/v1/paths/{HELD}",
            f"/api/models/{HELD}",
            f"/api/models/{HELD}/revision/main",
            f"/api/models/{HELD}/tree/main",
            f"/{HELD}/resolve/main/README.md",
            "/v1/disk-usage",
        ):
            assert client.get(path).status_code == 200, path
        assert client.post(f"/v1/verify/{HELD}").status_code == 200
        assert client.get(f"/{HELD}/resolve/main/README.md").text == "# a model card\n"


def test_no_server_errors(api_schema: Any) -> None:
    """Every operation, 60 generated cases each (schemathesis' pytest plugin predates pytest 9,
    so the cases are drawn here with hypothesis directly)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            response = case.call(headers=AUTH, timeout=10)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500 or response.status_code in (502, 503, 507), (
                f"{where} -> {response.status_code}: {response.text[:300]}"
            )
            content_type = "".join(response.headers.get("content-type", []))
            is_json = content_type.startswith("application/json") and case.method != "HEAD"
            if response.status_code >= 400 and is_json:
                body = response.json()
                assert set(body) == {"error"} and body["error"]["code"], (where, body)
            assert "Traceback" not in response.text, where

        check()


def test_schema_lists_every_route(api_schema: Any, home: Path) -> None:
    paths = set(api_schema.raw_schema["paths"])
    for expected in (
        "/v1/downloads",
        "/v1/downloads/{job_id}/events",
        "/v1/models/download",
        "/v1/models/download/progress",
        "/v1/models/{reference}",
        "/api/models/{org}/{name}/revision/{revision}",
        "/{org}/{name}/resolve/{rest}",
    ):
        assert expected in paths
