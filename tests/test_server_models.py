"""Model routes (list, info, path, verify, delete, disk usage) and the error shape."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from model_provisioner import ModelProvisioner
from tests.conftest import GGUF_REPO, FixtureRepo
from tests.hub import HubServer
from tests.server_helpers import serve

Q4 = "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf"


def test_model_routes_are_the_library(
    home: Path, hub_server: HubServer, gguf_repo: FixtureRepo
) -> None:
    ModelProvisioner(home, endpoint=hub_server.url).pull(f"{GGUF_REPO}:Q4_K_M")
    with serve(home, hub_server.url) as served, served.client() as client:
        assert client.get("/health").json()["status"] == "ok"
        models = client.get("/v1/models").json()
        assert [m["reference"] for m in models] == [f"hf:{GGUF_REPO}:Q4_K_M"]
        library = served.provisioner.get_model_info(f"{GGUF_REPO}:Q4_K_M").summary()
        assert models[0] == library

        ref = quote(f"hf:{GGUF_REPO}:Q4_K_M", safe="/:")
        info = client.get(f"/v1/models/{ref}").json()
        assert info["quantization"] == "Q4_K_M"
        assert info["metadata"]["architecture"] == "llama"
        # Without case, without provider, as a URL-encoded single segment: same model.
        assert client.get(f"/v1/models/{GGUF_REPO.lower()}:q4_k_m").json() == info
        assert client.get(f"/v1/models/{quote(GGUF_REPO + ':Q4_K_M', safe='')}").json() == info

        path = client.get(f"/v1/paths/{ref}").json()
        assert path["path"].endswith(Q4) and os.path.isfile(path["path"])

        verified = client.post(f"/v1/verify/{ref}").json()
        assert verified["ok"] is True and verified["problems"] == []
        assert verified["bytes_checked"] == info["total_size"]

        usage = client.get("/v1/disk-usage").json()
        assert usage["total_bytes"] >= info["total_size"]
        assert usage["models"] == [{"reference": info["reference"], "bytes": info["total_size"]}]

        # Damage is a 409 listing the problems.
        target = Path(path["path"])
        target.chmod(0o644)
        with open(target, "r+b") as f:
            f.seek(-8, os.SEEK_END)
            f.write(b"\xff" * 8)
        damaged = client.post(f"/v1/verify/{ref}")
        assert damaged.status_code == 409
        assert damaged.json()["error"]["code"] == "integrity-error"
        assert damaged.json()["error"]["problems"] == [f"{Q4}: sha256 mismatch"]

        deleted = client.delete(f"/v1/models/{ref}")
        assert deleted.status_code == 200 and deleted.json()["reference"] == info["reference"]
        assert client.get("/v1/models").json() == []
        for method, url in (("GET", f"/v1/models/{ref}"), ("GET", f"/v1/paths/{ref}")):
            missing = client.request(method, url)
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "model-not-found"


def test_errors_are_json_with_a_code(home: Path) -> None:
    with serve(home) as served, served.client() as client:
        cases = [
            ("GET", "/v1/models/..%2F..%2Fetc", 400, "invalid-reference"),
            ("GET", "/v1/models/org/repo@..", 400, "invalid-reference"),
            ("DELETE", "/v1/models/nosuchalias", 400, "invalid-reference"),
            ("DELETE", "/v1/models/org/repo", 404, "model-not-found"),
            ("GET", "/v1/nothing-here", 404, "not-found"),
            ("PUT", "/v1/models", 405, "method-not-allowed"),
        ]
        for method, url, status, code in cases:
            response = client.request(method, url)
            assert response.status_code == status, (url, response.text)
            assert response.json()["error"]["code"] == code, url
            assert response.json()["error"]["message"]


def test_a_damaged_manifest_never_breaks_the_model_routes(
    home: Path, hub_server: HubServer, gguf_repo: FixtureRepo
) -> None:
    ModelProvisioner(home, endpoint=hub_server.url).pull(f"{GGUF_REPO}:Q4_K_M")
    bad = home / "manifests" / "hf" / "Org" / "Bad" / "default.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"reference": "hf:Org/Bad", "size": "big"')
    with serve(home, hub_server.url) as served, served.client() as client:
        listed = client.get("/v1/models")
        assert listed.status_code == 200
        assert [m["reference"] for m in listed.json()] == [f"hf:{GGUF_REPO}:Q4_K_M"]
        assert client.get("/v1/disk-usage").status_code == 200
        info = client.get("/v1/models/Org/Bad")
        assert info.status_code == 409 and info.json()["error"]["code"] == "damaged-manifest"
        assert str(bad) in info.json()["error"]["message"]
