"""Start-up and catalog figures: ``python benchmarks/catalog.py [--entries 10000] [--runs 7]``.

Builds, once, under ``--work`` (default /tmp/provisioner-catalog):

- ``store/``: a provisioner home with N entries (N orgs' GGUF repos, one small but valid file
  each: a blob, its hard link in models/, a manifest written by ``ModelInfo.to_json``);
- ``hf-cache/``: a huggingface_hub cache with the same N repos (blob, snapshot symlink, ref),
  as ``hf download`` leaves it.

Then times whole processes, each ``--runs`` times alternating, and prints the median and range:
``provisioner --help`` / ``--version`` / ``path REF`` / ``list --json`` (warm: ``catalog.cache``
written by the run before; and cold: the cache deleted first) / ``list`` (the table, on a
pseudo-terminal) / ``list`` in a pipe, next to ``hf --help`` and ``hf cache ls`` on the cache of
the same size, and ``ollama list`` when installed. Budgets (issue 10): start under
150 ms; with 10,000 entries ``list --json`` under 300 ms, the table under 1 s, ``path`` under
150 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pty
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from model_provisioner._models import ModelFile, ModelInfo, ModelMetadata  # noqa: E402

BIN = Path(sys.executable).parent
COMMIT = "c0ffee" + "0" * 34
WHEN = "2026-11-20T10:00:00+00:00"
COLD = "provisioner list --json (no cache)"


def build_store(home: Path, entries: int) -> str:
    """N installed entries; returns a reference that ``path`` can find."""
    for i in range(entries):
        repo = f"org{i:05d}/model-{i:05d}-GGUF"
        name = f"model-{i:05d}.Q4_K_M.gguf"
        data = b"GGUF" + i.to_bytes(8, "little") + b"\0" * 52
        sha = hashlib.sha256(data).hexdigest()
        blob = home / "blobs" / "sha256" / sha[:2] / sha
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        folder = home / "models" / "hf" / repo / COMMIT
        folder.mkdir(parents=True, exist_ok=True)
        os.link(blob, folder / name)
        info = ModelInfo(
            reference=f"hf:{repo}:Q4_K_M",
            repo=repo,
            revision="main",
            selector="Q4_K_M",
            commit=COMMIT,
            format="gguf",
            model_path=folder / name,
            files=[ModelFile(name, len(data), sha, None, True)],
            downloaded_at=WHEN,
            verified_at=WHEN,
            metadata=ModelMetadata(format="gguf", architecture="llama", quantization="Q4_K_M"),
        )
        manifest = home / "manifests" / "hf" / repo / "Q4_K_M.json"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps(info.to_json(home), indent=2, sort_keys=True) + "\n")
    middle = entries // 2
    return f"org{middle:05d}/model-{middle:05d}-GGUF"


def build_hf_cache(cache: Path, entries: int) -> None:
    """The same repos as huggingface_hub's cache lays them out (blobs, snapshots, refs)."""
    for i in range(entries):
        folder = cache / f"models--org{i:05d}--model-{i:05d}-GGUF"
        data = b"GGUF" + i.to_bytes(8, "little") + b"\0" * 52
        etag = hashlib.sha256(data).hexdigest()
        (folder / "blobs").mkdir(parents=True, exist_ok=True)
        (folder / "blobs" / etag).write_bytes(data)
        snapshot = folder / "snapshots" / COMMIT
        snapshot.mkdir(parents=True, exist_ok=True)
        (snapshot / f"model-{i:05d}.Q4_K_M.gguf").symlink_to(f"../../blobs/{etag}")
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(COMMIT)


def run_piped(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall clock and CPU (user + system) of the whole child, stdout to /dev/null."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode})")
    return elapsed, usage.ru_utime + usage.ru_stime


def run_on_terminal(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Stdout on a pseudo-terminal (so tools print their human table), drained as it comes."""
    master, slave = pty.openpty()
    sink = threading.Thread(target=_drain, args=(master,), daemon=True)
    sink.start()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = proc.returncode = os.waitstatus_to_exitcode(status)
    sink.join(timeout=5)
    os.close(master)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed on a terminal (exit {code})")
    return elapsed, usage.ru_utime + usage.ru_stime


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 1 << 16):
            pass
    except OSError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/provisioner-catalog"))
    parser.add_argument("--rebuild", action="store_true", help="Build the stores again.")
    args = parser.parse_args()

    work = args.work / str(args.entries)
    home, cache = work / "store", work / "hf-cache"
    if args.rebuild and work.exists():
        shutil.rmtree(work)
    if not (work / "ready").exists():
        started = time.perf_counter()
        shutil.rmtree(work, ignore_errors=True)
        ref = build_store(home, args.entries)
        build_hf_cache(cache, args.entries)
        (work / "ready").write_text(ref)
        print(f"built {args.entries} entries in {time.perf_counter() - started:.1f} s")
    ref = (work / "ready").read_text()

    env = {**os.environ, "PROVISIONER_HOME": str(home), "HF_HUB_CACHE": str(cache)}
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["COLUMNS"] = "100"
    prov, hf = str(BIN / "provisioner"), str(BIN / "hf")
    cases: list[tuple[str, list[str], bool]] = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"], False),
        ("provisioner --version", [prov, "--version"], False),
        ("provisioner --help", [prov, "--help"], False),
        ("hf --help", [hf, "--help"], False),
        ("provisioner path REF", [prov, "path", ref], False),
        ("provisioner info REF", [prov, "info", ref], False),
        ("provisioner list --json", [prov, "list", "--json"], False),
        (COLD, [prov, "list", "--json"], False),
        ("provisioner list (pipe, TSV)", [prov, "list"], False),
        ("provisioner list (terminal)", [prov, "list"], True),
        ("hf cache ls (terminal)", [hf, "cache", "ls"], True),
        ("hf cache ls --format json", [hf, "cache", "ls", "--format", "json"], False),
    ]
    if shutil.which("ollama"):
        cases.append(("ollama list (terminal)", ["ollama", "list"], True))
    else:
        print("ollama: not installed, left out")
    # Warm up: catalog.cache remembers only what is older than 2 s (its racy rule).
    time.sleep(max(0.0, 2.1 - (time.time() - (work / "ready").stat().st_mtime)))
    run_piped([prov, "list", "--json"], env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in cases}
    for _ in range(args.runs):
        for name, argv, terminal in cases:
            if name == COLD:
                (home / "catalog.cache").unlink(missing_ok=True)
            runner = run_on_terminal if terminal else run_piped
            times[name].append(runner(argv, env))
        if not (home / "catalog.cache").exists():
            raise SystemExit("list did not write catalog.cache: the warm figures mean nothing")
    print(f"\n{args.entries} entries, {args.runs} runs each, whole process, milliseconds")
    print("(wall clock, and CPU = user + system of the child: steadier on a busy machine)")
    print(f"{'command':<34} {'wall med':>8} {'min':>6} {'max':>6} {'CPU med':>8}")
    for name, values in times.items():
        wall = [w * 1000 for w, _ in values]
        cpu = statistics.median(c * 1000 for _, c in values)
        print(
            f"{name:<34} {statistics.median(wall):8.0f} {min(wall):6.0f} {max(wall):6.0f}"
            f" {cpu:8.0f}"
        )


if __name__ == "__main__":
    main()
