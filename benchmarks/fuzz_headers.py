"""Coverage-guided fuzzing of the GGUF and safetensors header readers with atheris (optional).

Any exception other than MetadataError, or a read that takes more than a second, is a bug.

    .venv/bin/pip install atheris
    .venv/bin/python benchmarks/fuzz_headers.py -max_total_time=60 [CORPUS_DIR ...]

Without a corpus directory, seeds (a GGUF from gguf.GGUFWriter, a raw vocabulary header, a
safetensors file) are written to a temporary one. libFuzzer flags (-runs=N, ...) pass through.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

try:
    import atheris
except ImportError:  # optional: the test suite's hypothesis fuzzing does not need it
    sys.exit("atheris is not installed: .venv/bin/pip install atheris")

# The package imports its metadata modules at once; import it uninstrumented, then load the
# metadata modules again, instrumented, so coverage guides the fuzzer through them alone.
import model_provisioner  # noqa: E402, F401

for _name in [m for m in sys.modules if m.startswith("model_provisioner._metadata")]:
    del sys.modules[_name]

with atheris.instrument_imports(include=["model_provisioner._metadata"]):
    from model_provisioner._errors import MetadataError
    from model_provisioner._metadata import (
        BytesSource,
        read_gguf_header,
        read_safetensors_header,
        structural_problems,
    )

MAX_SECONDS = 1.0


def one_input(data: bytes) -> None:
    src = BytesSource(data)
    start = time.perf_counter()
    for read in (read_gguf_header, read_safetensors_header):
        with contextlib.suppress(MetadataError):
            read(src)
    structural_problems("x.gguf", src)
    structural_problems("x.safetensors", src)
    if time.perf_counter() - start > MAX_SECONDS:
        raise AssertionError(f"slow input: {time.perf_counter() - start:.2f} s")


def seed_corpus(folder: Path) -> None:
    import numpy as np
    import safetensors.numpy
    from gguf import GGMLQuantizationType, GGUFValueType

    from tests.metadata_files import gguf_via_writer, vocab_gguf

    kv = [
        ("general.file_type", 7, GGUFValueType.UINT32, None),
        ("t.strs", ["a", "bb"] * 40, GGUFValueType.ARRAY, GGUFValueType.STRING),
        ("t.nested", [[1, 2], ["x"]], GGUFValueType.ARRAY, GGUFValueType.ARRAY),
    ]
    tensors = [("w", (2, 64), GGMLQuantizationType.Q8_0)]
    (folder / "writer.gguf").write_bytes(gguf_via_writer(kv=kv, tensors=tensors))
    (folder / "vocab.gguf").write_bytes(vocab_gguf(100))
    arrays = {"a": np.zeros((2, 3), np.float16), "b": np.zeros(4, np.int8)}
    (folder / "m.safetensors").write_bytes(safetensors.numpy.save(arrays, {"k": "v"}))


def main() -> None:
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="fuzz-headers-"))
        seed_corpus(corpus)
        argv.append(str(corpus))
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
