"""Manifests read back field by field: a damaged or foreign one is reported, never trusted,
and never stops the others from being listed."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner import DamagedManifest, ModelProvisioner, ModelReference, parse_reference
from model_provisioner._manifest import ManifestProblem, _plain, parse_manifest
from model_provisioner._store import Store
from tests.store_builders import entry, manifest_json, put_blob, write_raw_manifest

COMMIT = "c" * 40


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "home")
    s.ensure()
    return s


@pytest.fixture
def good(store: Store) -> dict[str, Any]:
    """A valid manifest (org/bad) to damage, beside an installed entry (org/good) that stays."""
    entry(store, "org/good", COMMIT, {"m.gguf": put_blob(store, b"good")})
    info = entry(store, "org/bad", COMMIT, {"a.gguf": put_blob(store, b"bad")})
    return manifest_json(store, info)


def _with(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``data`` with one field (``files.0.size``) set, or removed when ``value`` is ``...``."""
    copy: dict[str, Any] = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    node = copy
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return copy


SHA = "a" * 64
CORRUPTIONS: list[tuple[str, Any, str]] = [
    ("files.0.size", "big", "size 'big' is not a byte count"),
    ("files.0.size", -1, "is not a byte count"),
    ("files.0.size", True, "is not a byte count"),
    ("files.0.size", 1.5, "is not a byte count"),
    ("files.0.size", ..., "is not a byte count"),
    ("files.0.sha256", "../../etc/passwd", "is not 64 hex digits"),
    ("files.0.sha256", SHA.upper(), "is not 64 hex digits"),
    ("files.0.sha256", None, "is not 64 hex digits"),
    ("files.0.git_sha1", "x" * 40, "is not 40 hex digits"),
    ("files.0.lfs", "yes", "is not true or false"),
    ("files.0.hash_source", "trust me", "hash_source 'trust me' is unknown"),
    ("files.0.hash_source", 1, "hash_source 1 is unknown"),
    ("files.0.path", "../../outside", "outside the repository"),
    ("files.0.path", "/etc/passwd", "outside the repository"),
    ("files.0.path", "a\nerror: forged", "with control characters"),
    ("files.0.path", 7, "path is missing or not a string"),
    ("files.0", "a.gguf", "a file entry is not an object"),
    ("files", [], "files is not a non-empty list"),
    ("files", {"a": 1}, "files is not a non-empty list"),
    ("files", ..., "files is not a non-empty list"),
    ("commit", "../../../tmp", "is not a 40-hex sha"),
    ("commit", 12, "commit is missing or not a string"),
    ("repo", "org/../../x", "is not a repository id"),
    ("repo", "org/other", "names another repo"),
    ("reference", "hf:evil/x", "names another repo"),
    ("reference", "not a reference!", "does not parse"),
    ("reference", ..., "reference is missing"),
    ("revision", "dev", "disagree with reference"),
    ("selector", 5, "selector is not a string"),
    ("model_path", "../../etc", "is not its own"),
    ("model_path", "models/hf/org/good/" + COMMIT, "is not its own"),
    ("model_path", "models/hf/org/bad/" + COMMIT + "xa.gguf", "is not its own"),
    ("model_path", "models/hf/org/bad/" + COMMIT + "/other.gguf", "is not its own"),
    ("metadata", [1, 2], "metadata is not an object"),
    ("downloaded_at", 5, "downloaded_at is missing or not a string"),
    ("verified_at", 5, "verified_at is not a string"),
    ("provider", "ftp", "unknown provider"),
    ("schema", 99, "unknown schema 99"),
    ("schema", "1", "unknown schema '1'"),
]


@pytest.mark.parametrize(("field", "value", "problem"), CORRUPTIONS)
def test_a_bad_field_is_reported_and_the_others_still_list(
    store: Store, good: dict[str, Any], field: str, value: Any, problem: str
) -> None:
    path = write_raw_manifest(
        store, "org/bad", "default", json.dumps(_with(good, field, value)).encode()
    )
    listed, damaged = store.read_all()
    assert [i.repo for _, i in listed] == ["org/good"]
    (bad,) = damaged
    assert bad.manifest == path and problem in bad.problem


def test_two_files_where_one_is_the_others_folder_is_damage(
    store: Store, good: dict[str, Any]
) -> None:
    twice = _with(good, "files", [good["files"][0], good["files"][0]])
    nested = dict(good["files"][0], path="a.gguf/b.json")
    clash = _with(good, "files", [good["files"][0], nested])
    for data, problem in ((twice, "listed twice"), (clash, "both a file and a folder")):
        write_raw_manifest(store, "org/bad", "default", json.dumps(data).encode())
        assert problem in store.read_all()[1][0].problem


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"reference": "hf:org/bad", "repo"', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000, "not valid JSON"),
        (b"null", "not a JSON object"),
    ],
    ids=["truncated", "empty", "binary", "list", "deep", "null"],
)
def test_torn_or_foreign_bytes_are_damage(
    store: Store, good: dict[str, Any], raw: bytes, problem: str
) -> None:
    write_raw_manifest(store, "org/bad", "default", raw)
    listed, damaged = store.read_all()
    assert [i.repo for _, i in listed] == ["org/good"] and problem in damaged[0].problem


def test_a_manifest_that_is_a_symlink_is_damage(store: Store, good: dict[str, Any]) -> None:
    path = store.manifests / "hf" / "org" / "bad" / "default.json"
    path.unlink()
    path.symlink_to("/etc/hostname")
    assert store.read_all()[1][0].problem == "not a regular file"


def test_a_manifest_in_another_repos_folder_is_foreign(store: Store, good: dict[str, Any]) -> None:
    write_raw_manifest(store, "org/elsewhere", "default", json.dumps(good).encode())
    (bad,) = store.read_all()[1]
    assert "names 'org/bad' but sits in org/elsewhere" in bad.problem


def test_damage_keeps_the_hashes_it_still_names(store: Store, good: dict[str, Any]) -> None:
    sha = good["files"][0]["sha256"]
    raw = json.dumps(_with(good, "files.0.size", "big")).encode()
    write_raw_manifest(store, "org/bad", "default", raw[: raw.index(sha.encode()) + 64] + b"...")
    (bad,) = store.read_all()[1]
    assert bad.hashes is not None and sha in bad.hashes


# -- what each command does with one --------------------------------------------------------------


def test_lookups_through_a_damaged_manifest_name_it(store: Store, good: dict[str, Any]) -> None:
    path = write_raw_manifest(store, "org/bad", "default", b'{"size": "big"')
    prov = ModelProvisioner(store.home)
    assert [m.repo for m in prov.list_models()] == ["org/good"]
    for call in (prov.get_model_info, prov.find_local_model, prov.verify_model):
        with pytest.raises(DamagedManifest) as err:
            call("org/bad")
        assert err.value.exit_code == 4 and str(path) in str(err.value)
    assert prov.find_local_model("org/good") is not None
    assert prov.get_total_disk_usage() > 0
    assert [str(d.manifest) for d in prov.damaged_manifests()] == [str(path)]
    listing = prov.listing()
    assert [str(d.manifest) for d in listing.damaged] == [str(path)]
    (listed,) = listing.models
    assert json.loads(listed.json) == {"schema": 1, **listed.info.summary()}
    assert listed.info == prov.list_models()[0]
    models, damaged = prov.scan_catalog()
    assert models == [listed.info] and [str(d.manifest) for d in damaged] == [str(path)]


def test_gc_keeps_what_an_unreadable_manifest_may_use(
    store: Store, good: dict[str, Any], tmp_path: Path
) -> None:
    sha = good["files"][0]["sha256"]
    link = store.models / "hf" / "org" / "bad" / COMMIT / "a.gguf"
    write_raw_manifest(store, "org/bad", "default", b"{torn")
    prov = ModelProvisioner(store.home)
    assert prov.collect_garbage(older_than=0) == []
    assert link.exists() and store.blob_path(sha).exists()
    # A blob whose only other name is in the torn bytes stays too.
    link.unlink()
    write_raw_manifest(store, "org/bad", "default", b'{"files": [{"sha256": "' + sha.encode())
    assert prov.collect_garbage(older_than=0) == [] and store.blob_path(sha).exists()
    # Once the damaged manifest is gone, what nothing names is collected.
    (store.manifests / "hf" / "org" / "bad" / "default.json").unlink()
    assert prov.collect_garbage(older_than=0) == [store.blob_path(sha)]


def test_delete_beside_a_damaged_manifest_releases_nothing_it_may_use(
    store: Store, tmp_path: Path
) -> None:
    shared = put_blob(store, b"shared")
    entry(store, "org/r:Q4_K_M", COMMIT, {"m.gguf": shared})
    entry(store, "org/r:Q8_0", COMMIT, {"m.gguf": shared})
    write_raw_manifest(store, "org/r", "Q8_0", b"{torn")
    prov = ModelProvisioner(store.home)
    prov.delete_model("org/r:Q4_K_M")
    assert (store.models / "hf" / "org" / "r" / COMMIT / "m.gguf").exists()


# -- hypothesis: random damage never escapes as anything but ours ---------------------------------


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_corruption_never_breaks_listing(
    store: Store, good: dict[str, Any], data: st.DataObject
) -> None:
    raw = bytearray(json.dumps(good).encode())
    for _ in range(data.draw(st.integers(1, 6))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "replace"]))
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if action == "flip" and raw:
            raw[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at:]
        elif action == "insert":
            raw[at:at] = data.draw(st.binary(max_size=8))
        else:
            raw[at : at + 8] = data.draw(st.sampled_from(JSON_VALUES))
    with contextlib.suppress(ManifestProblem):
        parse_manifest(bytes(raw), store.located)
    write_raw_manifest(store, "org/bad", "default", bytes(raw))
    listed, damaged = store.read_all()
    assert "org/good" in [i.repo for _, i in listed]
    assert len(listed) + len(damaged) == 2


JSON_VALUES = [b'"big"', b"null", b"-1", b"[]", b"{}", b"true", b'"../.."', b"1e999", b'"\\u0000"']


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(["size", "sha256", "path", "git_sha1", "lfs", "hash_source"]),
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=70),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers()),
    ),
)
def test_any_type_in_a_file_field_is_checked(
    store: Store, good: dict[str, Any], field: str, value: Any
) -> None:
    raw = json.dumps(_with(good, f"files.0.{field}", value)).encode()
    try:
        info = parse_manifest(raw, store.located)
    except ManifestProblem:
        return
    f = info.files[0]
    assert type(f.size) is int and f.size >= 0 and len(f.sha256) == 64
    assert isinstance(f.path, str) and ".." not in f.path.split("/")


@settings(max_examples=300, deadline=None)
@given(
    selector=st.one_of(
        st.none(),
        st.text(alphabet="abqQkK_M0148.-/ *x", min_size=1, max_size=16),
        st.sampled_from(["Q4_K_M", "q4_k_m", "Q8_0", "iq2_xs", "F16", "a.gguf", ".x", "a..b"]),
    ),
    revision=st.sampled_from(["main", "dev", "v1.0"]),
)
def test_the_fast_path_for_plain_references_agrees_with_the_parser(
    selector: str | None, revision: str
) -> None:
    text = ModelReference("Org/Name", revision, selector).canonical
    if _plain(text, "Org/Name", revision, selector):
        parsed = parse_reference(text)
        assert (parsed.repo, parsed.revision, parsed.selector) == ("Org/Name", revision, selector)


def test_metadata_reads_back_typed_from_old_and_odd_manifests(
    store: Store, good: dict[str, Any]
) -> None:
    """Written before a field existed (no ``dtype``), a parse failure recorded as ``error``, an
    ill-typed value: each reads as a typed record, never as a damaged entry."""
    old = {"schema": 1, "format": "gguf", "quantization": "Q4_K_M", "context_length": "4k"}
    info = parse_manifest(json.dumps(_with(good, "metadata", old)).encode(), store.located)
    meta = info.metadata
    assert (meta.format, meta.quantization, meta.context_length, meta.dtype) == (
        "gguf",
        "Q4_K_M",
        None,
        None,
    )
    assert info.quantization == "Q4_K_M"
    failed = {"error": "GGUF header truncated"}
    info = parse_manifest(json.dumps(_with(good, "metadata", failed)).encode(), store.located)
    assert info.metadata.error == "GGUF header truncated" and info.metadata.format == "other"
    again = parse_manifest(json.dumps(info.to_json(store.home)).encode(), store.located)
    assert again.metadata == info.metadata
