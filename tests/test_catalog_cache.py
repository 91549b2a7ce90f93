"""catalog.cache: what a list remembers (entries and manifest folders) never hides a manifest
changed, added, removed or damaged since, and a damaged, foreign or hostile cache is ignored and
rebuilt."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner import _catalog_cache, parse_reference
from model_provisioner._listing import ListedModel, select_rows
from model_provisioner._manifest import parse_manifest
from model_provisioner._models import ModelMetadata
from model_provisioner._store import Store
from tests.store_builders import entry, put_blob

COMMIT = "c" * 40
OLD_NS = 1_700_000_000 * 10**9  # long before any cache write: outside the racy window


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "home")
    s.ensure()
    for repo in ("org/one", "org/two"):
        entry(s, repo, COMMIT, {"m.Q4_K_M.gguf": put_blob(s, repo.encode())})
    _age(s)
    return s


def _age(store: Store, step: int = 0) -> None:
    """Every manifest and manifest folder written long ago (a distinct mtime per ``step``), as
    in a real store."""
    for path in [*store.manifests.rglob("*"), store.manifests]:
        os.utime(path, ns=(OLD_NS + step, OLD_NS + step))


def _listed(store: Store) -> tuple[list[str], list[str]]:
    """References and damaged manifests a fresh process (a new Store) lists."""
    good, bad = Store(store.home).read_all()
    return sorted(i.reference for _, i in good), sorted(b.problem for b in bad)


def _cache(store: Store) -> Path:
    return store.catalog_cache_file


def _cached(store: Store) -> _catalog_cache.CatalogCache:
    return _catalog_cache.load(store.catalog_cache_file, store.home)


def _manifest(store: Store, repo: str) -> Path:
    return next((store.manifests / "hf" / repo).glob("*.json"))


def test_a_list_writes_the_cache_and_the_next_list_uses_it(store: Store) -> None:
    assert _listed(store) == (["hf:org/one", "hf:org/two"], [])
    assert len(_cached(store).entries) == 2
    # Proof the second list read the cache, not the manifest: a cached entry is used while its
    # manifest's stat key is unchanged (same inode, mtime and size).
    path = _manifest(store, "org/one")
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"downloaded_at": "2026', b'"downloaded_at": "2025'))
    os.utime(path, ns=(OLD_NS, OLD_NS))
    good, _ = Store(store.home).read_all()
    assert {i.downloaded_at[:4] for _, i in good} == {"2026"}


def test_a_replaced_manifest_is_read_again(store: Store) -> None:
    _listed(store)
    entry(store, "org/one", COMMIT, {"m.Q8_0.gguf": put_blob(store, b"q8")})
    _age(store, step=1)
    assert _listed(store)[0] == ["hf:org/one", "hf:org/two"]
    good, _ = Store(store.home).read_all()
    files = {i.repo: [f.path for f in i.files] for _, i in good}
    assert files["org/one"] == ["m.Q8_0.gguf"]


def test_a_manifest_corrupted_in_place_is_damage(store: Store) -> None:
    _listed(store)
    path = _manifest(store, "org/one")
    path.write_bytes(b'{"schema": 1, "repo": 7}')
    os.utime(path, ns=(OLD_NS + 5, OLD_NS + 5))
    refs, damaged = _listed(store)
    assert refs == ["hf:org/two"]
    assert len(damaged) == 1


def test_a_recent_manifest_is_not_remembered(store: Store) -> None:
    """An in-place edit in the same clock tick and of the same size must not go unseen."""
    os.utime(_manifest(store, "org/one"))
    _listed(store)
    assert [p for p in _cached(store).entries if "org/one" in p] == []


def test_added_and_removed_manifests_are_seen(store: Store) -> None:
    _listed(store)
    entry(store, "org/three", COMMIT, {"m.Q4_K_M.gguf": put_blob(store, b"three")})
    _manifest(store, "org/two").unlink()
    _age(store, step=2)
    assert _listed(store) == (["hf:org/one", "hf:org/three"], [])
    assert len(_cached(store).entries) == 2


# An entry's row: [inode, mtime_ns, size, name, reference, provider, repo, commit, path,
# total_size, downloaded_at, format, quantization, unverified, endpoint, imported_from, json]
REPO, PATH, JSON = 6, 8, 16


@pytest.mark.parametrize("field", [REPO, PATH])
def test_a_cached_entry_pointing_elsewhere_is_refused_by_the_place_check(
    store: Store, field: int
) -> None:
    """A cache whose digest checks out but whose entry points elsewhere: read the manifest."""
    _listed(store)
    elsewhere = {REPO: "evil/x", PATH: str(store.models / "hf" / "evil" / "x" / COMMIT)}
    _rewrite(store, lambda row: row.__setitem__(field, elsewhere[field]))
    good, bad = Store(store.home).listing()
    assert bad == [] and sorted(m.repo for _, m in good) == ["org/one", "org/two"]
    assert all(m.path.startswith(str(store.models / "hf" / m.repo)) for _, m in good)


def test_a_cached_model_object_that_does_not_check_is_read_from_its_manifest(
    store: Store,
) -> None:
    """The listed fields check out but the JSON text is no model object, no JSON, or the other
    entry's (well typed, but not this entry's): the ModelInfo comes from the manifest."""
    _listed(store)
    one, two = (bytes(row[JSON]).decode() for row in _cached(store).entries.values())
    for forged in (['{"repo": "evil/x"}', "not json"], [two, one]):
        texts = iter(forged)
        _rewrite(store, lambda row: row.__setitem__(JSON, next(texts)))  # noqa: B023
        good, bad = Store(store.home).read_all()
        assert bad == [] and len(good) == 2
        for _, info in good:
            assert info == parse_manifest(_manifest(store, info.repo).read_bytes(), store.located)


def _rewrite(store: Store, change: object, folders: object = None) -> None:
    """Change each entry's row (its JSON text last, as the store sees it) or the folders, and
    write the cache back with a good digest: what only a forger could do."""
    head, *texts = _cache(store).read_bytes().partition(b"\n")[2].decode().split("\n")
    data = json.loads(head)
    for row, text in zip(data["entries"].values(), texts, strict=True):
        row.append(text)
        change(row)  # type: ignore[operator]
    if folders is not None:
        folders(data["folders"])  # type: ignore[operator]
    lines = [
        str(row[JSON]).replace("\n", " ") if len(row) > JSON else ""
        for row in data["entries"].values()
    ]
    data["entries"] = {path: row[:JSON] for path, row in data["entries"].items()}
    new = "\n".join([json.dumps(data), *lines]).encode()
    _cache(store).write_bytes(hashlib.sha256(new).hexdigest().encode() + b"\n" + new)


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-10],
        lambda raw: raw.replace(b"org/one", b"org/bad"),
        lambda raw: b"",
        lambda raw: b"\xff" * 100,
    ],
)
def test_a_damaged_cache_is_ignored_and_rebuilt(store: Store, damage: object) -> None:
    _listed(store)
    raw = _cache(store).read_bytes()
    _cache(store).write_bytes(damage(raw))  # type: ignore[operator]
    assert _cached(store).entries == {}
    assert _listed(store) == (["hf:org/one", "hf:org/two"], [])
    assert len(_cached(store).entries) == 2


def test_a_cache_others_may_write_or_a_symlink_is_ignored(store: Store, tmp_path: Path) -> None:
    _listed(store)
    _cache(store).chmod(0o666)
    assert _cached(store).entries == {}
    elsewhere = tmp_path / "elsewhere"
    _cache(store).rename(elsewhere)
    elsewhere.chmod(0o600)
    _cache(store).symlink_to(elsewhere)
    assert _cached(store).entries == {}


def test_a_cache_that_cannot_be_written_still_lists(store: Store) -> None:
    """A folder where the cache belongs: writes fail as on a read-only home (a real read-only
    tmpfs: tests/test_store_environment.py), the list is whole every time."""
    _cache(store).mkdir()
    for _ in range(2):
        assert _listed(store) == (["hf:org/one", "hf:org/two"], [])
    assert _cache(store).is_dir()


HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=20),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=5)), max_size=7),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.lists(HOSTILE_VALUES, max_size=16), index=st.integers(0, JSON), value=HOSTILE_VALUES
)
def test_any_hostile_entry_with_a_good_digest_never_breaks_listing(
    store: Store, fields: list[object], index: int, value: object
) -> None:
    """Whole rows replaced, or one field of each: every list still shows the true entries, and
    ``list``'s filters, sorts and cells work on whatever the cache held."""
    _listed(store)
    _rewrite(store, lambda r: r.__setitem__(index, value))
    good, bad = Store(store.home).listing()
    assert bad == []
    _use(m for _, m in good)
    assert _listed(store) == (["hf:org/one", "hf:org/two"], [])
    _rewrite(store, lambda r: r.__setitem__(slice(3, None), fields))
    assert _listed(store) == (["hf:org/one", "hf:org/two"], [])


def _use(models: object) -> None:
    """What ``provisioner list`` does with listed entries: filter, sort, show."""
    rows = list(models)  # type: ignore[call-overload]
    for key in ("name", "size", "modified"):
        select_rows(rows, 0.0, ["size>1", "modified>1d", "quant=Q4_K_M", "name=*"], key)
    assert all(isinstance(m, ListedModel) and m.total_size >= 0 for m in rows)
    for m in rows:
        f"{m.name}{m.reference}{m.downloaded_at}{m.path}{m.format}{m.quantization}"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.one_of(HOSTILE_VALUES, st.lists(st.text(max_size=8), max_size=4).map("\n".join)))
def test_any_hostile_folder_listing_never_leaves_the_manifests(store: Store, names: object) -> None:
    """A remembered folder's names replaced: the cache is refused unless they are plain names,
    and plain names only name paths inside that folder. Forged with the folder's own stat key,
    they may hide what the folder holds (so can any forgery by the same user), never show what
    it does not."""
    _listed(store)
    _rewrite(store, lambda row: None, lambda folders: folders["hf/org"].__setitem__(2, names))
    plain = isinstance(names, str) and all(
        n and n[0] != "." and "/" not in n and "\0" not in n for n in names.split("\n")
    )
    assert bool(_cached(store).folders) == (plain or names == "")
    refs, damaged = _listed(store)
    assert set(refs) <= {"hf:org/one", "hf:org/two"} and damaged == []


def test_a_hostile_row_the_process_never_used_is_dropped_on_save(store: Store) -> None:
    """A service that looked one model up before its first list holds that manifest already:
    the cache's row for it is never checked, and must not break the list or the write."""
    _listed(store)
    _rewrite(store, lambda row: row.__setitem__(1, "x") if row[6] == "org/one" else None)
    service = Store(store.home)
    assert service.read_manifest(_manifest(store, "org/one")) is not None
    assert sorted(m.repo for _, m in service.listing()[0]) == ["org/one", "org/two"]
    other = _manifest(store, "org/two")
    os.utime(other, ns=(OLD_NS + 3, OLD_NS + 3))  # another entry changed: the cache is written
    assert sorted(m.repo for _, m in service.listing()[0]) == ["org/one", "org/two"]
    assert [p for p in _cached(store).entries if "org/one" in p] == []  # dropped, read next time


def test_a_remembered_folder_is_not_listed_again(store: Store) -> None:
    """Proof the folder listing came from the cache: a manifest slipped in with the folder's
    mtime put back (which a real change never does) stays unseen; the next real change shows."""
    _listed(store)
    assert {"", "hf", "hf/org", "hf/org/one", "hf/org/two"} == set(_cached(store).folders)
    folder = store.manifests / "hf" / "org" / "one"
    slipped = folder / "Q8_0.json"
    slipped.write_bytes(_manifest(store, "org/one").read_bytes())
    os.utime(folder, ns=(OLD_NS, OLD_NS))
    assert len(Store(store.home).read_all()[0]) == 2
    os.utime(folder)  # any real change to the folder moves its mtime
    assert len(Store(store.home).read_all()[0]) == 3


def test_a_folder_changed_within_the_racy_window_is_not_remembered(store: Store) -> None:
    _listed(store)
    os.utime(store.manifests / "hf" / "org" / "two")
    _listed(store)
    assert "hf/org/two" not in _cached(store).folders
    assert "hf/org/one" in _cached(store).folders


def test_an_entry_read_from_the_cache_equals_the_checked_manifest(store: Store) -> None:
    info = entry(store, "org/meta", COMMIT, {"m.Q4_K_M.gguf": put_blob(store, b"meta")})
    info.metadata = ModelMetadata(format="gguf", architecture="llama", context_length=4096)
    info.verified_at = "2026-01-02T00:00:00+00:00"
    store.write_manifest(info, parse_reference("org/meta"))
    _age(store)
    _listed(store)
    cached = {i.reference: i for _, i in Store(store.home).read_all()[0]}
    assert len(_cached(store).entries) == 3
    for path in store.manifests.rglob("*.json"):
        checked = parse_manifest(path.read_bytes(), store.located)
        assert cached[checked.reference] == checked
    listed = {m.reference: m for _, m in Store(store.home).listing()[0]}
    for reference, info in cached.items():
        assert json.loads(listed[reference].json) == {"schema": 1, **info.summary()}
        assert listed[reference] == ListedModel.of(info)


@pytest.mark.parametrize("name", ["we\nird", "trailing\n", "\nleading"])
def test_a_folder_named_with_a_newline_is_listed_warm_as_cold(store: Store, name: str) -> None:
    """Names are stored one per line: a folder whose names cannot round-trip is not remembered,
    so the misplaced manifest in it is reported as damaged by every list, not only the first."""
    shutil.copytree(store.manifests / "hf" / "org" / "one", store.manifests / "hf" / "org" / name)
    _age(store)
    cold = _listed(store)
    assert cold[1] == [f"names 'org/one' but sits in org/{name}"]
    assert _listed(store) == cold
    assert "hf/org" not in _cached(store).folders


def test_a_cache_written_by_other_code_is_ignored_and_rebuilt(store: Store) -> None:
    """Entries hold what code derives (the model object's JSON, quantization, projector, the
    short name): a cache another version of the package wrote is not used, or an upgrade would
    go on printing the old rendering of every unchanged manifest."""
    _listed(store)
    head, _, rest = _cache(store).read_bytes().partition(b"\n")[2].partition(b"\n")
    data = json.loads(head)
    assert data["code"] == _catalog_cache.code_key()
    data["code"] = "another version"
    body = json.dumps(data).encode() + b"\n" + rest
    _cache(store).write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    assert _cached(store).entries == {}
    assert _listed(store) == (["hf:org/one", "hf:org/two"], [])
    assert len(_cached(store).entries) == 2


def test_the_code_key_follows_every_module_of_the_package(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub" / "__pycache__").mkdir(parents=True)
    for path in (package / "__init__.py", package / "sub" / "m.py"):
        path.write_text("x = 1\n")
        os.utime(path, ns=(OLD_NS, OLD_NS))
    (package / "notes.txt").write_text("not code")
    (package / "sub" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"compiled")
    keys = [_catalog_cache.code_key(package)]
    os.utime(package / "sub" / "m.py", ns=(OLD_NS, OLD_NS + 1))  # an edit in a subpackage
    keys.append(_catalog_cache.code_key(package))
    (package / "__init__.py").write_text("x = 22\n")  # same mtime, other size
    os.utime(package / "__init__.py", ns=(OLD_NS, OLD_NS))
    keys.append(_catalog_cache.code_key(package))
    (package / "new.py").write_text("")  # a module added
    keys.append(_catalog_cache.code_key(package))
    assert len(set(keys)) == len(keys)
    (package / "notes.txt").write_text("other")  # not code: no new key
    (package / "sub" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"recompiled")
    assert _catalog_cache.code_key(package) == keys[-1]
