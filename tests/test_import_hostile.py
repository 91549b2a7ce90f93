"""Hostile sources for provisioner import: links out of the cache, broken manifests, pipes.

Every case ends in a report or one ``error:`` line with an exit code, never a traceback; nothing
is written outside the home; the source tree keeps every byte, mode and time.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner import ModelProvisioner, ProvisionerError, UsageError
from model_provisioner.cli import main
from tests.import_sources import (
    MODEL_MEDIA,
    fingerprint,
    make_llama_hf_cache,
    make_ollama_model,
    sha256_of,
)

COMMIT = "a" * 40
GGUF = b"GGUF" + bytes(60)


def _run_cli(home: Path, *args: str) -> tuple[int, str]:
    """The CLI in-process: its exit code and stderr (no traceback may reach it)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["--home", str(home), *args])
        except SystemExit as exit:
            return int(exit.code or 0), err.getvalue()
    return 0, err.getvalue()


def _tree_outside(root: Path, home: Path) -> dict[str, Any]:
    return {k: v for k, v in fingerprint(root).items() if not (root / k).is_relative_to(home)}


def _check_run(root: Path, source: Path, run: Callable[[Path], object]) -> None:
    """Run an import of ``source``; only the home may change, the source never."""
    home = root / "home"
    before = _tree_outside(root, home)
    src_before = fingerprint(source)
    run(home)
    assert fingerprint(source) == src_before
    assert _tree_outside(root, home) == before


# -- huggingface_hub cache -------------------------------------------------------------------


def test_snapshot_links_leading_out_of_the_cache_are_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    secret = tmp_path / "secret"
    secret.mkdir()
    outside = secret / sha256_of(GGUF)
    outside.write_bytes(GGUF)
    repo = make_llama_hf_cache(
        cache, "org/m-GGUF", COMMIT, {"m.Q4_K_M.gguf": (GGUF, sha256_of(GGUF))}
    )
    snapshot = repo / "snapshots" / COMMIT
    (snapshot / "abs.Q8_0.gguf").symlink_to(outside)
    (snapshot / "rel.Q5_K_M.gguf").symlink_to(os.path.relpath(outside, snapshot))
    linked_blob = repo / "blobs" / ("b" * 64)
    linked_blob.symlink_to(outside)
    (snapshot / "chain.Q6_K.gguf").symlink_to(f"../../blobs/{'b' * 64}")

    def run(home: Path) -> None:
        report = ModelProvisioner(home).import_hf_cache(cache)
        assert [i.selector for i in report.imported] == ["m.Q4_K_M.gguf"]
        reasons = " | ".join(map(str, report.skipped))
        assert "outside the cache's blobs folder" in reasons
        assert "chain.Q6_K.gguf" in reasons and "symbolic link" in reasons
        assert not any(
            b.stat().st_ino == outside.stat().st_ino for b in (home / "blobs").rglob("*")
        )

    _check_run(tmp_path, cache, run)


def test_a_ref_that_is_a_pipe_is_refused_without_hanging(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    repo = make_llama_hf_cache(
        cache, "org/m-GGUF", COMMIT, {"m.Q4_K_M.gguf": (GGUF, sha256_of(GGUF))}
    )
    os.mkfifo(repo / "refs" / "pipe")
    code, err = _run_cli(tmp_path / "home", "import", "hf-cache", str(cache))
    assert code == 2 and err.startswith("error: refusing the cache") and "Traceback" not in err


def test_bad_snapshot_names_and_refs_are_reported(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    repo = make_llama_hf_cache(cache, "org/m-GGUF", COMMIT, {"m.Q4_K_M.gguf": (GGUF, "not-a-hash")})
    (repo / "snapshots" / "not-a-commit").mkdir()
    bad = make_llama_hf_cache(cache, "org/dangling", COMMIT, {"x.gguf": (GGUF, sha256_of(GGUF))})
    (bad / "refs" / "main").write_text("f" * 40)
    code, err = _run_cli(tmp_path / "home", "import", "hf-cache", str(cache))
    assert code == 4 and "Traceback" not in err
    assert "is not a sha256 or git blob id" in err
    assert "not a commit hash" in err
    assert "missing commit" in err


# -- Ollama -----------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_names = st.text(
    st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=24
).filter(lambda n: n not in (".", ".."))


def _layer(media: str, digest: str) -> dict[str, Any]:
    return {"mediaType": media, "digest": digest, "size": len(GGUF)}


_manifests = st.one_of(
    _json,
    st.builds(lambda layers: {"schemaVersion": 2, "layers": layers}, st.lists(_json, max_size=3)),
    st.builds(
        lambda media, digest: {"layers": [_layer(media, digest)]},
        st.sampled_from([MODEL_MEDIA, "application/vnd.ollama.image.projector", "x"]),
        st.one_of(
            st.just(f"sha256:{sha256_of(GGUF)}"),
            st.just(f"sha256:{'0' * 64}"),
            st.just("sha256:../../../../etc/passwd"),
            st.text(max_size=80),
        ),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifest=_manifests, model=_names, tag=_names, raw=st.booleans())
def test_hostile_ollama_manifests(manifest: Any, model: str, tag: str, raw: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = root / "ollama"
        (models / "blobs").mkdir(parents=True)
        (models / "blobs" / f"sha256-{sha256_of(GGUF)}").write_bytes(GGUF)
        try:
            path = models / "manifests" / "registry.ollama.ai" / "library" / model / tag
            path.parent.mkdir(parents=True)
            path.write_bytes(os.urandom(64) if raw else json.dumps(manifest).encode())
        except (OSError, UnicodeEncodeError):
            return  # a name this filesystem cannot hold is not a case

        def run(home: Path) -> None:
            code, err = _run_cli(home, "import", "ollama", str(models))
            assert code in (0, 4), err
            assert "Traceback" not in err
            assert all(line.strip() for line in err.splitlines())

        _check_run(root, models, run)


def test_ollama_manifest_and_blob_links_out_are_refused(tmp_path: Path) -> None:
    models = tmp_path / "ollama"
    manifest = make_ollama_model(models, "good", "latest", [(MODEL_MEDIA, GGUF)])
    secret = tmp_path / "secret.json"
    secret.write_text(manifest.read_text())
    (manifest.parent / "linked").symlink_to(secret)
    other = tmp_path / "other.gguf"
    other.write_bytes(GGUF + b"x")
    digest = sha256_of(GGUF + b"x")
    (models / "blobs" / f"sha256-{digest}").symlink_to(other)
    doc = {"layers": [_layer(MODEL_MEDIA, f"sha256:{digest}")]}
    (manifest.parent / "viablob").write_text(json.dumps(doc))

    def run(home: Path) -> None:
        report = ModelProvisioner(home).import_ollama(models)
        assert [i.reference for i in report.imported] == ["ollama:library/good@latest"]
        reasons = " | ".join(map(str, report.skipped))
        assert "linked" in reasons and "viablob" in reasons and "symbolic link" in reasons

    _check_run(tmp_path, models, run)


# -- llama.cpp flat files and plain folders ---------------------------------------------------


@pytest.mark.parametrize(
    "sidecar",
    [
        b"{not json",
        b'{"url": "http://x/org/m/resolve/main/../../etc/passwd", "etag": "%s"}',
        b'{"url": "http://x/../m/resolve/main/m.gguf", "etag": "%s"}',
        b'{"url": "http://x/org/m/resolve/main/m.gguf", "etag": "W/\\"nothex\\""}',
        b'{"url": 5, "etag": []}',
        b"[]",
    ],
)
def test_hostile_llama_cpp_sidecars(tmp_path: Path, sidecar: bytes) -> None:
    folder = tmp_path / "llama"
    folder.mkdir()
    (folder / "org_m_m.gguf").write_bytes(GGUF)
    body = sidecar.replace(b"%s", sha256_of(GGUF).encode()) if b"%s" in sidecar else sidecar
    (folder / "org_m_m.gguf.json").write_bytes(body)

    def run(home: Path) -> None:
        code, err = _run_cli(home, "import", "llama-cpp", str(folder))
        assert code == 4 and "Traceback" not in err
        assert "no sidecar tells its repository and sha256" in err

    _check_run(tmp_path, folder, run)


def test_folder_with_links_out_and_a_pipe(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "model.Q4_K_M.gguf").write_bytes(GGUF)
    secret = tmp_path / "secret.Q8_0.gguf"
    secret.write_bytes(GGUF + b"s")
    (folder / "leak.Q8_0.gguf").symlink_to(secret)
    os.mkfifo(folder / "pipe.Q5_K_M.gguf")
    (folder / "sub").symlink_to(tmp_path, target_is_directory=True)

    def run(home: Path) -> None:
        report = ModelProvisioner(home).import_folder(folder, "me/model")
        assert [i.selector for i in report.imported] == ["model.Q4_K_M.gguf"]
        reasons = " | ".join(map(str, report.skipped))
        assert "symbolic link" in reasons and "not a regular file" in reasons

    _check_run(tmp_path, folder, run)


def test_a_file_name_that_would_forge_output_is_skipped(tmp_path: Path) -> None:
    """The one path rule (``_names.path_problem``) a server's listing meets: before it, a
    folder's ``x\nerror: ...gguf`` became an entry whose ``list`` line forged another."""
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "model.Q4_K_M.gguf").write_bytes(GGUF)
    (folder / "x\nerror: forged.Q8_0.gguf").write_bytes(GGUF + b"f")
    (folder / "evil\u202efoog.Q5_K_M.gguf").write_bytes(GGUF + b"e")

    def run(home: Path) -> None:
        report = ModelProvisioner(home).import_folder(folder, "me/model")
        assert [i.selector for i in report.imported] == ["model.Q4_K_M.gguf"]
        assert [str(s).count("not a usable file name") for s in report.skipped] == [1, 1]

    _check_run(tmp_path, folder, run)


def test_bad_names_are_usage_errors(tmp_path: Path) -> None:
    p = ModelProvisioner(tmp_path / "home")
    for name in ("../x", "a/b/c", "me/x:sel", "/etc"):
        with pytest.raises(ProvisionerError):
            p.import_folder(tmp_path, name)
    with pytest.raises(UsageError):
        p.import_folder(tmp_path, "me/x:sel")


def test_a_name_with_a_newline_is_one_escaped_line(tmp_path: Path) -> None:
    models = tmp_path / "ollama"
    make_ollama_model(models, "bad\nname", "x\x1b[2J", [(MODEL_MEDIA, GGUF)])
    code, err = _run_cli(tmp_path / "home", "import", "ollama", str(models))
    assert code == 4
    (line, last) = err.splitlines()
    assert "bad\\nname" in line and "\x1b" not in line
    assert last == "error: 1 item(s) not imported (listed above)"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("hf-cache", "/nonexistent"), 3, "error: no huggingface_hub cache at /nonexistent"),
        (("ollama", "/nonexistent"), 3, "error: no Ollama store at /nonexistent"),
        (("llama-cpp", "/nonexistent"), 3, "error: no llama.cpp cache at /nonexistent"),
        (("folder", "/nonexistent", "--as", "a/b"), 3, "error: no folder at /nonexistent"),
        (("folder", "/", "--as", "bad"), 2, "error: 'local:bad': repository must be ORG/NAME"),
    ],
)
def test_missing_sources_and_bad_names_are_one_line(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    got, err = _run_cli(tmp_path / "home", "import", *args)
    assert got == code and err.startswith(message) and len(err.splitlines()) == 1
