"""Lockfiles: the written format, and validation of a lockfile as outside data."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner._errors import UsageError
from model_provisioner._lockfile import (
    LockedModel,
    Lockfile,
    dump_lockfile,
    parse_lockfile,
)
from model_provisioner._models import ModelFile

SHA = "a" * 64
COMMIT = "c" * 40


def model(reference: str = "hf:Org/Repo-GGUF:Q4_K_M", **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "reference": reference,
        "repo": "Org/Repo-GGUF",
        "commit": COMMIT,
        "files": [
            {"path": "repo.Q4_K_M.gguf", "size": 10, "sha256": SHA, "lfs": True},
            {"path": "README.md", "size": 3, "sha256": "b" * 64, "git_sha1": "d" * 40},
        ],
    }
    data.update(changes)
    return data


def text(*models: dict[str, object], schema: object = 1) -> str:
    return json.dumps({"schema": schema, "models": list(models)})


def test_the_format_is_sorted_one_file_per_line_and_reads_back() -> None:
    lock = parse_lockfile(text(model(), model("hf:Org/Repo-GGUF:Q8_0")))
    written = dump_lockfile(lock)
    assert parse_lockfile(written) == lock
    assert written.endswith("}\n") and json.loads(written)["schema"] == 1
    lines = written.splitlines()
    file_lines = [line.strip() for line in lines if '"path"' in line]
    assert len(file_lines) == 4
    assert all(json.loads(line.rstrip(",")) for line in file_lines)  # each a whole object
    assert file_lines[0].startswith('{"lfs": true, "path": "repo.Q4_K_M.gguf", "sha256"')
    assert json.dumps(json.loads(written), indent=2, sort_keys=True).count("reference") == 2
    assert dump_lockfile(Lockfile(())) == '{\n  "models": [],\n  "schema": 1\n}\n'
    assert json.loads(dump_lockfile(Lockfile(()))) == {"models": [], "schema": 1}


def test_files_come_out_sorted_and_lfs_defaults_from_the_git_id() -> None:
    (locked,) = parse_lockfile(text(model())).models
    assert locked.files[1] == ModelFile("README.md", 3, "b" * 64, "d" * 40, False)
    assert locked.files[0].lfs is True
    assert [
        f.path
        for f in LockedModel(
            "hf:Org/Repo-GGUF",
            "Org/Repo-GGUF",
            COMMIT,
            tuple(sorted(locked.files, key=lambda f: f.path)),
        ).files
    ] == ["README.md", "repo.Q4_K_M.gguf"]


@pytest.mark.parametrize(
    ("lockfile", "said"),
    [
        ("", "not valid JSON"),
        ("[]", "exactly 'schema' and 'models'"),
        (text(schema=2), "schema 2 is not supported"),
        (text(schema=True), "schema True is not supported"),
        (text(model(extra=1)), "models[0]: expected exactly"),
        (text(model(reference="tinyllama")), "models[0]"),
        (text(model(reference="hf:../etc/passwd")), "models[0]"),
        (text(model(repo="Other/Repo")), "models[0].repo"),
        (text(model(commit="C" * 40)), "models[0].commit"),
        (text(model(commit="main")), "models[0].commit"),
        (text(model(commit=COMMIT + "\n")), "models[0].commit"),
        (text(model(files=[])), "models[0].files"),
        (text(model(files=[{"path": "../x", "size": 1, "sha256": SHA}])), "files[0].path"),
        (text(model(files=[{"path": "/etc/x", "size": 1, "sha256": SHA}])), "files[0].path"),
        (text(model(files=[{"path": "a\x1bb", "size": 1, "sha256": SHA}])), "files[0].path"),
        (text(model(files=[{"path": "x", "size": -1, "sha256": SHA}])), "files[0].size"),
        (text(model(files=[{"path": "x", "size": 1.5, "sha256": SHA}])), "files[0].size"),
        (text(model(files=[{"path": "x", "size": True, "sha256": SHA}])), "files[0].size"),
        (text(model(files=[{"path": "x", "size": 1, "sha256": "A" * 64}])), "files[0].sha256"),
        (text(model(files=[{"path": "x", "size": 1, "sha256": SHA + "\n"}])), "files[0].sha256"),
        (text(model(files=[{"path": "x", "size": 1, "sha256": SHA, "lfs": 1}])), "files[0].lfs"),
        (text(model(files=[{"path": "x", "size": 1, "sha256": SHA}] * 2)), "listed twice"),
        (text(model(), model(reference="hf:org/repo-gguf:Q4_K_M")), "listed twice"),
        ('{"schema": 1, "models": [NaN]}', "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
)
def test_a_bad_lockfile_is_one_usage_error_saying_where(lockfile: str, said: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_lockfile(lockfile, "models.lock")
    message = str(caught.value)
    assert message.startswith("models.lock: ") and said in message and "\n" not in message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
hexes = st.text("0123456789abcdef", min_size=40, max_size=64)
files = st.fixed_dictionaries(
    {
        "path": st.text(string.printable, min_size=1, max_size=12),
        "size": st.integers(-2, 2**60),
        "sha256": hexes,
    },
    optional={"git_sha1": hexes | st.none(), "lfs": json_values},
)
models = st.fixed_dictionaries(
    {
        "reference": st.sampled_from(["hf:Org/Repo-GGUF", "Org/Repo-GGUF:Q8_0", "x", ""])
        | st.text(max_size=30),
        "repo": st.sampled_from(["Org/Repo-GGUF", "org/repo-gguf"]) | st.text(max_size=20),
        "commit": hexes,
        "files": st.lists(files, max_size=3),
    }
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(models | json_values, max_size=3), json_values)
def test_hostile_lockfiles_parse_or_fail_with_one_usage_error(
    entries: list[object], noise: object
) -> None:
    for body in (json.dumps({"schema": 1, "models": entries}), json.dumps(noise)):
        try:
            lock = parse_lockfile(body)
        except UsageError as exc:
            assert "\n" not in str(exc)
            continue
        for locked in lock.models:
            assert locked.ref.canonical == locked.reference
            assert all(len(f.sha256) == 64 and f.size >= 0 for f in locked.files)
            assert all(
                not f.path.startswith("/") and ".." not in f.path.split("/") for f in locked.files
            )
        assert parse_lockfile(dump_lockfile(lock)) == lock


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_fail_with_one_usage_error(data: bytes) -> None:
    try:
        parse_lockfile(data)
    except UsageError as exc:
        assert "\n" not in str(exc)
