"""The main job, end to end on loopback: serve small real models, pull, list, verify.

A local Hub-compatible server (the test suite's fixture server) serves a genuine GGUF repo
written with the gguf package and the real all-MiniLM-L6-v2 safetensors model; the provisioner
CLI pulls both from it with progress, lists them, shows one and verifies every file.
Nothing here reaches huggingface.co.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hub import FixtureHub  # noqa: E402
from tests.hub.process import start_subprocess_server  # noqa: E402
from tests.makers import make_gguf_repo, make_safetensors_repo  # noqa: E402

GGUF_REPO = "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="provisioner-demo-"))
    hub = FixtureHub(work / "hub")
    print(f"building small real models in {hub.root}", flush=True)
    make_gguf_repo(hub, GGUF_REPO, stem="tinyllama-1.1b-chat-v1.0", pad_to=64 << 20)
    make_safetensors_repo(hub, "sentence-transformers/all-MiniLM-L6-v2")
    server, url = start_subprocess_server(hub.root)
    home = work / "home"
    env = {**os.environ, "HF_ENDPOINT": url, "PROVISIONER_HOME": str(home)}
    env.pop("HF_HUB_OFFLINE", None)
    provisioner = str(Path(sys.executable).parent / "provisioner")
    steps = [
        ["pull", "tinyllama"],
        ["pull", "sentence-transformers/all-MiniLM-L6-v2"],
        ["list"],
        ["info", "tinyllama"],
        ["verify", "--all"],
        ["du"],
    ]
    try:
        print(f"local Hub on {url}; store in {home}\n", flush=True)
        for step in steps:
            print(f"$ provisioner {' '.join(step)}", flush=True)
            subprocess.run([provisioner, *step], env=env, check=True)
            print(flush=True)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    print("demo complete: pulled, listed, verified")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
