"""A hostile server, case by case: whatever it says, the store stays whole, one line for the user.

Every case pulls ``evil/x`` from a server that lies in one way, after ``ok/gguf`` was installed
from the same server, into a home inside a sentinel folder. Each asserts the same four things:
nothing written outside the home, ``ok/gguf`` untouched (manifest and bytes), nothing
unverifiable installed, and one ``error:`` line with the right exit code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner.cli._main import main
from tests.hub.faults import FaultKind
from tests.hub_hostile import (
    EVIL_REPO,
    OK_REPO,
    HostileHub,
    Setup,
    info_field,
    no_hash_anywhere,
    siblings,
    strip,
    together,
)

GGUF = "evil.Q4_K_M.gguf"


def tree_state(root: Path, skip: Path) -> dict[str, tuple[int, str]]:
    """Every file and folder under ``root`` but ``skip``: size and content hash."""
    state: dict[str, tuple[int, str]] = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d != skip]
        state[str(here)] = (-1, "dir")
        for name in files:
            path = here / name
            data = path.read_bytes() if not path.is_symlink() else b"link"
            state[str(path)] = (len(data), hashlib.sha256(data).hexdigest())
    return state


def entry_state(home: Path, repo: str) -> dict[str, tuple[int, str]]:
    """The manifests and model files of one repo, by content."""
    org, name = repo.split("/")
    state: dict[str, tuple[int, str]] = {}
    for base in (home / "manifests" / "hf" / org / name, home / "models" / "hf" / org / name):
        if base.exists():
            state |= {k: v for k, v in tree_state(base, Path("/nonexistent")).items()}
    return state


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli(*args: str) -> Run:
    """The CLI in-process: its exit code and output, never an exception other than SystemExit."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class Sandbox:
    root: Path
    home: Path
    hostile: HostileHub

    def cli(self, *args: str) -> Run:
        return cli("--home", str(self.home), "--endpoint", self.hostile.url, *args)


def make_sandbox(root: Path, hostile: HostileHub) -> Sandbox:
    home = root / "s1" / "s2" / "s3" / "home"
    home.mkdir(parents=True)
    for sentinel in (root / "outside.txt", root / "s1" / "s2" / "x", root / "s1" / "partial"):
        sentinel.parent.mkdir(parents=True, exist_ok=True)
        sentinel.write_bytes(b"sentinel")
    box = Sandbox(root, home, hostile)
    assert box.cli("pull", OK_REPO).code == 0
    return box


def check_case(
    box: Sandbox, args: list[str], code: int, message: str, act: Callable[[], Run]
) -> Run:
    outside = tree_state(box.root, box.home)
    ok_before = entry_state(box.home, OK_REPO)
    assert ok_before
    run = act()
    assert tree_state(box.root, box.home) == outside, "something was written outside the home"
    assert entry_state(box.home, OK_REPO) == ok_before, "ok/gguf was touched"
    assert run.code == code, (args, run)
    if code != 0:
        line = error_line(run.err)
        assert message.lower() in line.lower(), line
        assert not entry_state(box.home, EVIL_REPO) or "--keep" in args
    else:
        assert_all_verified(box)
    return run


def error_line(err: str) -> str:
    """The one error line, last on stderr (progress status lines may come before it)."""
    lines = err.strip().split("\n")
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert "Traceback" not in err
    return errors[0]


def assert_all_verified(box: Sandbox) -> None:
    """Every installed file's bytes are what the server truly holds (or marked first seen)."""
    listed = json.loads(box.cli("--json", "list").out)
    for model in listed:
        commit = model["commit"]
        for f in model["files"]:
            source = box.hostile.hub.file_path(model["repo"], commit, f["path"])
            installed = box.home / "models" / "hf" / model["repo"] / commit / f["path"]
            assert installed.read_bytes() == source.read_bytes()
            assert hashlib.sha256(installed.read_bytes()).hexdigest() == f["sha256"]


def strip_info(*keys: str) -> Setup:
    """Model info without these sibling fields; the tree stays honest."""

    def setup(h: HostileHub) -> None:
        edit_all = siblings(lambda item: [item.pop(k, None) for k in keys])
        h.hostility.body = lambda route, repo, body: (
            edit_all(route, repo, body) if route == "model_info" else body
        )

    return setup


def edit(path: str, **fields: Any) -> Setup:
    """Set fields of one model-info sibling; ``lfs_size``/``lfs_sha256`` edit its lfs block."""

    def change(item: dict[str, Any]) -> None:
        if item.get("rfilename") != path:
            return
        for key, value in fields.items():
            if key.startswith("lfs_"):
                item["lfs"][key.removeprefix("lfs_")] = value
            else:
                item[key] = value

    def setup(h: HostileHub) -> None:
        h.hostility.body = siblings(change)

    return setup


def add_sibling(**item: Any) -> Setup:
    def setup(h: HostileHub) -> None:
        def rewrite(route: str, repo: str, body: Any) -> Any:
            if route == "model_info":
                body["siblings"].append(item)
            return body

        h.hostility.body = rewrite

    return setup


def info(name: str, value: Any) -> Setup:
    def setup(h: HostileHub) -> None:
        h.hostility.body = info_field(name, value)

    return setup


def headers(**values: str) -> Setup:
    """Listing without hashes (so HEAD is asked) and HEAD headers overridden."""

    def setup(h: HostileHub) -> None:
        strip("blobId", "lfs", "oid")(h)
        h.hostility.headers = lambda repo, path, hd: {
            **hd,
            **{k.replace("_", "-"): v for k, v in values.items()},
        }

    return setup


def tree_item(**fields: Any) -> Setup:
    """Model info without metadata (so the tree is asked), the tree's GGUF entry changed."""

    def setup(h: HostileHub) -> None:
        def rewrite(route: str, repo: str, body: Any) -> Any:
            if route == "model_info":
                for s in body["siblings"]:
                    for k in ("size", "blobId", "lfs"):
                        s.pop(k, None)
            elif route == "tree":
                for item in body:
                    if item.get("path") == GGUF:
                        item.update(fields)
            return body

        h.hostility.body = rewrite

    return setup


def moved(h: HostileHub) -> None:
    h.hostility.moved[EVIL_REPO] = OK_REPO


def fault(kind: FaultKind, path: str = "/api/models/evil/x*", **params: Any) -> Setup:
    def setup(h: HostileHub) -> None:
        h.server.inject(path, kind, times=params.pop("times", None), **params)

    return setup


CASES: dict[str, tuple[Setup, int, str]] = {
    # the repo id: a pull only ever writes the entry asked for
    "id-other-repo": (info("id", OK_REPO), 4, "answered for repository"),
    "id-other-case-repo": (info("id", "OK/GGUF"), 4, "answered for repository"),
    "id-traversal": (info("id", "../../ok/gguf"), 4, "answered for repository"),
    "id-not-string": (info("id", ["evil/x"]), 4, "answered for repository"),
    "model-id-other": (info("modelId", OK_REPO), 4, "answered for repository"),
    "redirect-to-other-repo": (moved, 4, "answered for repository"),
    # the commit
    "sha-traversal": (info("sha", "../../../../../../tmp/x"), 4, "malformed commit"),
    "sha-uppercase": (info("sha", "A" * 40), 4, "malformed commit"),
    "sha-short": (info("sha", "abc123"), 4, "malformed commit"),
    "sha-number": (info("sha", 12345), 4, "malformed commit"),
    "sha-missing": (info("sha", None), 4, "malformed commit"),
    "siblings-not-list": (info("siblings", {"a": 1}), 4, "malformed file list"),
    "sibling-not-object": (
        info("siblings", [1]),
        4,
        "not an object",
    ),
    # paths
    "path-dotdot": (add_sibling(rfilename="../evil.gguf", size=4), 4, "outside the repository"),
    "path-absolute": (add_sibling(rfilename="/etc/passwd", size=4), 4, "outside the repository"),
    "path-inner-dotdot": (add_sibling(rfilename="a/../../b", size=4), 4, "outside the repository"),
    "path-backslash": (add_sibling(rfilename="..\\evil", size=4), 4, "outside the repository"),
    "path-nul": (add_sibling(rfilename="evil\x00.gguf", size=4), 4, "control characters"),
    "path-newline": (add_sibling(rfilename="a\nerror: forged", size=4), 4, "control characters"),
    "path-not-string": (add_sibling(rfilename=5), 4, "not a string"),
    "path-duplicate": (add_sibling(rfilename=GGUF), 4, "twice"),
    "path-file-and-folder": (
        add_sibling(rfilename=f"{GGUF}/b.json", size=2),
        4,
        "both a file and a folder",
    ),
    # ids and hashes
    "blob-id-traversal": (edit("README.md", blobId="../../../x"), 4, "malformed blob id"),
    "lfs-sha256-traversal": (edit(GGUF, lfs_sha256="../../x"), 4, "malformed sha256"),
    "lfs-sha256-short": (edit(GGUF, lfs_sha256="0" * 63), 4, "malformed sha256"),
    "lfs-sha256-wrong": (edit(GGUF, lfs_sha256="0" * 64), 4, "sha256"),
    # sizes
    "size-negative": (edit(GGUF, size=-1), 4, "invalid size"),
    "size-bool": (edit(GGUF, size=True), 4, "invalid size"),
    "size-string": (edit(GGUF, size="big"), 4, "invalid size"),
    "size-float": (edit(GGUF, size=1.5), 4, "invalid size"),
    "size-huge": (edit(GGUF, size=1 << 60), 4, "invalid size"),
    "size-lfs-disagrees": (edit(GGUF, lfs_size=3), 4, "disagrees"),
    "size-too-small": (edit(GGUF, size=10, lfs_size=10), 4, ""),
    # missing facts
    "no-hash-anywhere": (no_hash_anywhere, 4, "no published hash covers"),
    "head-size-disagrees": (headers(X_Linked_Size="1"), 4, "disagrees"),
    "head-etag-disagrees": (headers(X_Linked_Etag='"' + "0" * 64 + '"'), 4, ""),
    "head-commit-other": (headers(X_Repo_Commit="f" * 40), 4, "names commit"),
    "head-commit-traversal": (headers(X_Repo_Commit="../../x"), 4, "malformed commit"),
    "head-size-junk": (headers(X_Linked_Size="-5"), 4, "invalid size"),
    "tree-path-traversal": (tree_item(path="../../evil"), 4, "outside the repository"),
    "tree-unknown-type": (tree_item(type="symlink"), 4, "unknown type"),
    "tree-size-disagrees": (tree_item(size=1), 4, "disagrees"),
    "tree-lfs-block-missing": (tree_item(lfs=None), 4, "without its 'lfs' block"),
    # metadata routes failing
    "model-info-500": (fault("status", status=500), 1, "HTTP 500"),
    "model-info-junk": (fault("junk"), 1, "not JSON"),
    "model-info-and-tree-401": (fault("status", status=401), 3, "not found, or needs a token"),
    "model-info-503-once": (fault("status", status=503, times=1), 0, ""),
    "model-info-429-once": (fault("rate_limit", retry_after=0, times=1), 0, ""),
    "model-info-hang-once": (fault("hang", seconds=3.0, times=1), 0, ""),
    "model-info-hang-always": (fault("hang", seconds=3.0), 1, "timed out"),
    "tree-503-once": (
        together(
            strip_info("size", "blobId", "lfs"),
            fault("status", "/api/models/*/tree/*", status=503, times=1),
        ),
        0,
        "",
    ),
    "tree-hang-once": (
        together(
            strip_info("size", "blobId", "lfs"),
            fault("hang", "/api/models/*/tree/*", seconds=3.0, times=1),
        ),
        0,
        "",
    ),
    "tree-junk": (
        together(
            strip_info("size", "blobId", "lfs"),
            fault("junk", "/api/models/*/tree/*"),
        ),
        1,
        "not JSON",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_case(
    case: str, hostile: HostileHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISIONER_HUB_TIMEOUT", "0.5")
    box = make_sandbox(tmp_path / "sentinel", hostile)
    setup, code, message = CASES[case]
    setup(hostile)
    started = time.monotonic()
    check_case(box, ["pull", EVIL_REPO], code, message, lambda: box.cli("pull", EVIL_REPO))
    assert time.monotonic() - started < 20, "a stalled server must not hold a pull"


def test_allow_unverified_records_hash_first_seen_here(hostile: HostileHub, tmp_path: Path) -> None:
    box = make_sandbox(tmp_path / "sentinel", hostile)
    no_hash_anywhere(hostile)
    run = check_case(
        box,
        ["pull", "--allow-unverified", EVIL_REPO],
        0,
        "",
        lambda: box.cli("pull", "--allow-unverified", EVIL_REPO),
    )
    assert "hash first seen here" in run.out
    shown = json.loads(box.cli("--json", "info", EVIL_REPO).out)
    assert shown["unverified_files"] and all(
        f["hash_source"] == "first seen here" for f in shown["files"]
    )
    assert "first seen here" in box.cli("info", EVIL_REPO).out
    listed = {m["repo"]: m for m in json.loads(box.cli("--json", "list").out)}
    assert listed[EVIL_REPO]["unverified_files"] and not listed[OK_REPO]["unverified_files"]
    hashes = {line.split("\t")[1]: line.split("\t")[5] for line in box.cli("list").out.splitlines()}
    assert hashes == {f"hf:{EVIL_REPO}": "first seen here", f"hf:{OK_REPO}": "published"}


def test_a_branch_moved_to_a_hashless_listing_keeps_the_good_model(
    hostile: HostileHub, tmp_path: Path
) -> None:
    box = make_sandbox(tmp_path / "sentinel", hostile)
    assert box.cli("pull", EVIL_REPO).code == 0
    evil_before = entry_state(box.home, EVIL_REPO)
    blobs_before = tree_state(box.home / "blobs", Path("/nonexistent"))
    hostile.hub.add_commit(EVIL_REPO, {GGUF: b"moved on" * 1000})
    strip("size", "blobId", "lfs", "oid")(hostile)
    hostile.hostility.headers = lambda repo, path, hd: {
        k: v for k, v in hd.items() if k not in ("ETag", "X-Linked-Etag", "X-Linked-Size")
    }
    run = box.cli("pull", EVIL_REPO)
    assert run.code == 4 and "no published hash covers" in run.err
    assert entry_state(box.home, EVIL_REPO) == evil_before
    assert tree_state(box.home / "blobs", Path("/nonexistent")) == blobs_before
    assert box.cli("verify", EVIL_REPO).code == 0


def test_no_traceback_through_a_real_process(hostile: HostileHub, tmp_path: Path) -> None:
    box = make_sandbox(tmp_path / "sentinel", hostile)
    for setup, code in ((info("sha", "../../x"), 4), (edit(GGUF, size="big"), 4)):
        hostile.hostility.reset()
        setup(hostile)
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "provisioner"),
                "--home",
                str(box.home),
                "--endpoint",
                hostile.url,
                "pull",
                EVIL_REPO,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == code, proc.stderr
        error_line(proc.stderr)


hostile_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 64), max_value=1 << 64),
    st.floats(allow_nan=True),
    st.sampled_from(["../../x", "/etc/passwd", "a" * 40, "0" * 64, "", "..", "a/../b", "x\x00"]),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
)
field_name = st.sampled_from(["rfilename", "size", "blobId", "lfs", "id", "sha"])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edits=st.lists(st.tuples(field_name, hostile_value, st.booleans()), min_size=1, max_size=4))
def test_generated_hostile_listings(
    edits: list[tuple[str, Any, bool]],
    hostile: HostileHub,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    hostile.hostility.reset()
    box = make_sandbox(tmp_path_factory.mktemp("gen"), hostile)

    def rewrite(route: str, repo: str, body: Any) -> Any:
        if route != "model_info":
            return body
        for name, value, on_file in edits:
            if name in ("id", "sha") or not on_file:
                body[name if name in ("id", "sha") else "siblings"] = (
                    value if name in ("id", "sha") else [*body["siblings"], {name: value}]
                )
            else:
                for s in body["siblings"]:
                    if s.get("rfilename") == GGUF:
                        s[name] = value
        return body

    hostile.hostility.body = rewrite
    outside = tree_state(box.root, box.home)
    ok_before = entry_state(box.home, OK_REPO)
    run = box.cli("pull", EVIL_REPO)
    assert tree_state(box.root, box.home) == outside
    assert entry_state(box.home, OK_REPO) == ok_before
    assert run.code in (0, 1, 3, 4), run
    if run.code:
        error_line(run.err)
    else:
        assert_all_verified(box)
