"""Reading a GGUF header with a 150,000-token vocabulary: our reader against gguf.GGUFReader.

Both read the same fields (architecture, context length, vocabulary size, parameter count)
from the same file, written by gguf.GGUFWriter, in one run. Memory is measured in fresh
subprocesses (peak RSS growth, and tracemalloc's peak of Python allocations). Also: how much of
a 1 GiB file a remote read transfers through BufferedSource with 256 KiB Range requests.

    .venv/bin/python benchmarks/gguf_header.py [--tokens 150000] [--repeat 20] [--check]

Goals (issue 4): >= 50x faster than GGUFReader, < 100 ms, < 50 MB, remote < 1% of 1 GiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def write_model(path: Path, n_tokens: int) -> None:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(path, "llama")
    w.add_name("bench-150k")
    w.add_context_length(131072)
    w.add_embedding_length(256)
    w.add_block_count(2)
    w.add_head_count(4)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"token-{i}" for i in range(n_tokens)])
    w.add_token_merges([f"tok en{i}" for i in range(n_tokens)])
    w.add_token_scores([float(-i) for i in range(n_tokens)])
    w.add_token_types([1] * n_tokens)
    w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    w.add_tensor("token_embd.weight", np.zeros((1024, 256), np.float16))
    for b in range(2):
        w.add_tensor(f"blk.{b}.attn_q.weight", np.zeros((256, 256), np.float16))
        w.add_tensor(f"blk.{b}.attn_norm.weight", np.zeros(256, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def read_ours(path: Path) -> tuple[Any, ...]:
    from model_provisioner._metadata import FileSource, read_gguf_header

    with FileSource(path) as src:
        h = read_gguf_header(src)
    return h.architecture, h.context_length, h.vocab_size, h.parameter_count


def read_theirs(path: Path) -> tuple[Any, ...]:
    import gguf

    r = gguf.GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    ctx = r.fields[f"{arch}.context_length"].contents()
    vocab = len(r.fields["tokenizer.ggml.tokens"].data)
    params = sum(int(t.n_elements) for t in r.tensors)
    return arch, ctx, vocab, params


READERS: dict[str, Callable[[Path], tuple[Any, ...]]] = {"ours": read_ours, "gguf": read_theirs}


def timings(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def child(which: str, path: Path) -> None:
    """In a fresh process: peak RSS growth of one read, then tracemalloc's peak of another."""
    import gguf  # noqa: F401  - imports are not the reader's cost

    import model_provisioner._metadata  # noqa: F401

    def status_kib(field: str) -> int:
        # VmHWM (peak RSS) is per address space, so unlike ru_maxrss it is not inherited
        # from the (large) parent across fork and exec.
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    before = status_kib("VmHWM")
    READERS[which](path)
    peak = status_kib("VmHWM")
    tracemalloc.start()
    READERS[which](path)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"rss_mb": max(0, peak - before) / 1024, "traced_mb": traced / 2**20}))


def memory(which: str, path: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", which, str(path)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out)
    return result


def remote_fraction(path: Path) -> tuple[int, int, float]:
    """Bytes a Range-request source transfers to summarise a 1 GiB file with this header."""
    from model_provisioner._metadata import BufferedSource, read_model_metadata

    header = path.read_bytes()

    class RemoteLike:  # the header, then 1 GiB of weights that must never be fetched
        size = 1 << 30

        def read(self, offset: int, length: int) -> bytes:
            return header[offset : offset + length].ljust(min(length, self.size - offset), b"\0")

    src = BufferedSource(RemoteLike(), block_size=256 << 10)
    read_model_metadata([("model.gguf", src)])
    return src.bytes_read, src.reads, 100 * src.bytes_read / (1 << 30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tokens", type=int, default=150_000)
    ap.add_argument("--repeat", type=int, default=20, help="repetitions of our reader")
    ap.add_argument("--repeat-gguf", type=int, default=2, help="repetitions of GGUFReader")
    ap.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    ap.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.gguf"
        write_model(path, args.tokens)
        size = path.stat().st_size
        ours, theirs = read_ours(path), read_theirs(path)
        assert ours == theirs, (ours, theirs)
        print(f"file: {size / 2**20:.1f} MiB, {args.tokens} tokens + merges + scores + types")
        print(f"fields (both readers): {ours}")

        t_ours = timings(lambda: read_ours(path), args.repeat)
        t_theirs = timings(lambda: read_theirs(path), args.repeat_gguf)
        m_ours, m_theirs = memory("ours", path), memory("gguf", path)
        sent, requests, pct = remote_fraction(path)

    best_o, best_t = min(t_ours), min(t_theirs)
    print()
    print(f"{'reader':<12}{'best ms':>10}{'median ms':>12}{'peak RSS MB':>14}{'traced MB':>12}")
    for name, t, m in (("ours", t_ours, m_ours), ("GGUFReader", t_theirs, m_theirs)):
        row = f"{name:<12}{min(t) * 1e3:>10.1f}{statistics.median(t) * 1e3:>12.1f}"
        print(f"{row}{m['rss_mb']:>14.1f}{m['traced_mb']:>12.1f}")
    speedup = statistics.median(t_theirs) / statistics.median(t_ours)
    print(f"\nspeedup (median): {speedup:.0f}x   (best: {best_t / best_o:.0f}x)")
    print(f"remote, 1 GiB file: {sent / 2**20:.2f} MiB in {requests} requests ({pct:.2f}%)")

    goals = {
        ">= 50x faster": speedup >= 50,
        "< 100 ms": statistics.median(t_ours) < 0.1,
        "< 50 MB": max(m_ours["rss_mb"], m_ours["traced_mb"]) < 50,
        "remote < 1%": pct < 1,
    }
    print("goals: " + ", ".join(f"{k}: {'ok' if v else 'MISSED'}" for k, v in goals.items()))
    return 1 if args.check and not all(goals.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
