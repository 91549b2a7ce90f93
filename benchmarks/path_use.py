"""What recording last use costs ``path``: ``python benchmarks/path_use.py``.

Builds a store of ``--models`` catalog entries (manifests and linked files written directly,
no network), then times ``find_local_model`` in-process with last-use recording on and with it
replaced by a no-op, alternating, and the ``provisioner path`` command (process start included)
with a writable and an unwritable usage folder.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from model_provisioner import ModelProvisioner  # noqa: E402
from model_provisioner import _provisioner as facade  # noqa: E402
from model_provisioner._models import ModelFile, ModelInfo  # noqa: E402
from model_provisioner._references import parse_reference  # noqa: E402
from model_provisioner._store import Store  # noqa: E402


def build(home: Path, count: int) -> list[str]:
    """``count`` small entries, each a manifest plus one linked file."""
    p = ModelProvisioner(home)
    store = Store(p.home)
    store.ensure()
    refs = []
    for i in range(count):
        ref = parse_reference(f"Bench/Model-{i:04d}-GGUF:Q4_K_M")
        commit = f"{i:040x}"
        data = f"model {i}".encode()
        sha = hashlib.sha256(data).hexdigest()
        blob = store.blob_path(sha)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        name = f"model-{i}.Q4_K_M.gguf"
        store.link_file(sha, "hf", ref.repo, commit, name)
        folder = store.model_dir("hf", ref.repo, commit)
        info = ModelInfo(
            reference=ref.canonical,
            repo=ref.repo,
            revision="main",
            selector="Q4_K_M",
            commit=commit,
            format="gguf",
            model_path=folder / name,
            files=[ModelFile(name, len(data), sha, None, True)],
            downloaded_at="2026-01-01T00:00:00+00:00",
        )
        store.write_manifest(info, ref)
        refs.append(ref.canonical)
    return refs


def lookups(home: Path, refs: list[str], rounds: int) -> float:
    p = ModelProvisioner(home)
    started = time.perf_counter()
    for _ in range(rounds):
        for ref in refs:
            assert p.find_local_model(ref) is not None
    return (time.perf_counter() - started) / (rounds * len(refs)) * 1e6


def command(home: Path, ref: str, runs: int) -> float:
    exe = str(Path(sys.executable).with_name("provisioner"))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([exe, "--home", str(home), "path", ref], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        refs = build(home, args.models)
        real = facade.__dict__["record_use"]
        on, off = [], []
        for _ in range(3):
            on.append(lookups(home, refs, args.rounds))
            setattr(facade, "record_use", lambda store, manifest: None)  # noqa: B010
            off.append(lookups(home, refs, args.rounds))
            setattr(facade, "record_use", real)  # noqa: B010
        print(f"find_local_model over {args.models} entries, median of 3:")
        print(f"  recording last use: {statistics.median(on):8.1f} us per lookup")
        print(f"  not recording:      {statistics.median(off):8.1f} us per lookup")
        middle = refs[len(refs) // 2]
        writable = command(home, middle, args.runs)
        shutil.rmtree(home / "usage")
        (home / "usage").write_text("")  # every marker write now fails (as on a read-only store)
        os.sync()
        unwritable = command(home, middle, args.runs)
        print(f"provisioner path, median of {args.runs} runs (process start included):")
        print(f"  writable store:     {writable:8.1f} ms")
        print(f"  unwritable usage/:  {unwritable:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
