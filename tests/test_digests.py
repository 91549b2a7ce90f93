"""File sha256 and git blob ids: checked against hashlib and the real git."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner._digests import file_sha256, git_blob_hasher, git_blob_sha1


@given(st.binary(max_size=4096))
def test_git_blob_sha1_is_gits_header_then_content(data: bytes) -> None:
    assert git_blob_sha1(data) == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    fed = git_blob_hasher(len(data))
    fed.update(data[: len(data) // 2])
    fed.update(data[len(data) // 2 :])
    assert fed.hexdigest() == git_blob_sha1(data)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_blob_sha1_agrees_with_git(tmp_path: Path) -> None:
    path = tmp_path / "small.json"
    path.write_bytes(b'{"model_type": "llama"}\n')
    done = subprocess.run(
        ["git", "hash-object", str(path)], capture_output=True, text=True, check=True
    )
    assert git_blob_sha1(path.read_bytes()) == done.stdout.strip()


def test_file_sha256_reads_a_file_larger_than_one_chunk(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # 1.2 MiB: more than one read
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()
