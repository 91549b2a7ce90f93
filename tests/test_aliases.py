"""The alias file: seeded once, then the user's; names checked, targets canonical, TOML exact."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner._aliases import (
    SEED,
    AliasFile,
    _toml_string,
    load_aliases,
    remove_alias,
    set_alias,
)
from model_provisioner._errors import InvalidReference, UsageError
from model_provisioner._store import alias_file


def test_first_use_writes_the_seed_and_later_edits_are_kept(tmp_path: Path) -> None:
    assert load_aliases(tmp_path) == SEED
    path = alias_file(tmp_path)
    assert path.read_text().startswith("# model-provisioner aliases")
    table = set_alias(tmp_path, "Mine", "org/Repo:q4_k_m")
    assert table["mine"] == "hf:org/Repo:Q4_K_M"
    remove_alias(tmp_path, "tinyllama")
    assert load_aliases(tmp_path) == {**{k: v for k, v in SEED.items() if k != "tinyllama"},
                                      "mine": "hf:org/Repo:Q4_K_M"}  # fmt: skip
    with pytest.raises(InvalidReference, match="tinyllama"):
        remove_alias(tmp_path, "tinyllama")


def test_names_and_targets_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidReference, match="cannot be an alias"):
        set_alias(tmp_path, "no spaces", "org/repo")
    with pytest.raises(InvalidReference):
        set_alias(tmp_path, "ok", "not a reference!")
    with pytest.raises(InvalidReference):
        set_alias(tmp_path, "ok", "tinyllama")  # a target is never another alias


def test_the_messages_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InvalidReference) as target:
        set_alias(tmp_path, "ok", "tinyllama")
    assert str(target.value) == (
        "'tinyllama' is not ORG/NAME[@REV][:QUANT|FILE]: an alias names a repository, "
        "never another alias"
    )
    with pytest.raises(InvalidReference) as unknown:
        remove_alias(tmp_path, "zzz")
    assert str(unknown.value).endswith("(`provisioner alias` lists them)")


def test_a_broken_file_is_a_usage_error(tmp_path: Path) -> None:
    (alias_file(tmp_path)).write_text("x = [unclosed\n")
    with pytest.raises(UsageError, match="cannot read alias file"):
        load_aliases(tmp_path)


def test_a_read_only_home_still_resolves_the_seed(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: a read-only folder is writable")
        assert dict(AliasFile(locked)) == SEED and not alias_file(locked).exists()
    finally:
        locked.chmod(0o755)


@given(st.text(max_size=40))
def test_toml_strings_read_back_exactly(text: str) -> None:
    try:
        line = f"k = {_toml_string(text)}"
        parsed = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        # control characters are not allowed in basic strings; references never hold them
        assert any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in text)
        return
    assert parsed == {"k": text}


USER_FILE = """\
# my own aliases, kept by hand
   # an indented note

Tiny   =   "hf:org/Tiny-GGUF:Q4_K_M"    # the small one
big="hf:org/Big-GGUF"
'quoted' = 'hf:org/Quoted-GGUF:Q8_0'

# the end
odd = 3
last = "hf:org/Last-GGUF"\
"""


def test_add_set_and_rm_change_only_the_entrys_own_line(tmp_path: Path) -> None:
    path = alias_file(tmp_path)
    path.write_text(USER_FILE)
    set_alias(tmp_path, "new", "org/New-GGUF:q4_k_m")
    assert path.read_text() == USER_FILE + '\nnew = "hf:org/New-GGUF:Q4_K_M"\n'
    path.write_text(USER_FILE)
    set_alias(tmp_path, "tiny", "org/Tiny-GGUF:q8_0")  # spelled Tiny in the file: kept
    lines = USER_FILE.splitlines()
    lines[3] = 'Tiny   =   "hf:org/Tiny-GGUF:Q8_0"    # the small one'
    assert path.read_text() == "\n".join(lines)
    path.write_text(USER_FILE)
    remove_alias(tmp_path, "BIG")
    assert path.read_text() == USER_FILE.replace('big="hf:org/Big-GGUF"\n', "")
    remove_alias(tmp_path, "quoted")
    assert "quoted" not in path.read_text() and "# the end\nodd = 3\n" in path.read_text()
    assert load_aliases(tmp_path) == {
        "tiny": "hf:org/Tiny-GGUF:Q4_K_M",
        "last": "hf:org/Last-GGUF",
    }


def test_the_same_name_in_two_cases_is_left_once(tmp_path: Path) -> None:
    path = alias_file(tmp_path)
    path.write_text('# x\nFoo = "hf:a/b"\nfoo = "hf:c/d"\n')
    set_alias(tmp_path, "foo", "e/f")
    assert path.read_text() == '# x\nFoo = "hf:e/f"\n'
    remove_alias(tmp_path, "foo")
    assert path.read_text() == "# x\n"


def test_an_edit_goes_through_a_dotfiles_symlink(tmp_path: Path) -> None:
    kept = tmp_path / "dotfiles" / "aliases.toml"
    kept.parent.mkdir()
    kept.write_text("# mine\n")
    home = tmp_path / "home"
    home.mkdir()
    alias_file(home).symlink_to(kept)
    set_alias(home, "a", "org/repo")
    assert alias_file(home).is_symlink()
    assert kept.read_text() == '# mine\na = "hf:org/repo"\n'


def _fifo(path: Path) -> None:
    os.mkfifo(path)


HOSTILE: dict[str, Callable[[Path], object]] = {
    "broken TOML": lambda p: p.write_text('a = "hf:x/y"\nb = [unclosed\n'),
    "not UTF-8": lambda p: p.write_bytes(b'a = "hf:x/y"\n# \xff\xfe\n'),
    "a FIFO": _fifo,
    "a folder": lambda p: p.mkdir(),
    "over 1 MiB": lambda p: p.write_text("# " + "x" * (1 << 20) + "\n"),
    "a table in place of a name": lambda p: p.write_text("[tinyllama]\nx = 1\n"),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_file_that_does_not_read_is_one_line_and_never_overwritten(
    tmp_path: Path, kind: str
) -> None:
    path = alias_file(tmp_path)
    HOSTILE[kind](path)
    before = _snapshot(path)
    with pytest.raises(UsageError) as raised:
        set_alias(tmp_path, "tinyllama", "org/repo")
    assert "\n" not in raised.value.message and _snapshot(path) == before
    with pytest.raises((UsageError, InvalidReference)) as refused:
        remove_alias(tmp_path, "tinyllama")
    assert "\n" not in refused.value.message and _snapshot(path) == before
    ran = subprocess.run(
        [
            str(Path(sys.executable).with_name("provisioner")),
            "--home",
            str(tmp_path),
            "alias",
            "tinyllama",
            "o/r",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (ran.returncode, ran.stdout) == (2, "")
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") <= 2, ran.stderr
    assert _snapshot(path) == before


def _snapshot(path: Path) -> tuple[int, bytes | None]:
    mode = path.lstat().st_mode
    return mode, path.read_bytes() if path.is_file() else None


lines = st.one_of(
    st.sampled_from(["", "   ", "# a comment", "  # indented", "#", "\t# tab"]),
    st.builds(
        lambda key, left, right, tail: f'{key}{left}={right}"hf:org/{key.strip(chr(39))}"{tail}',
        st.sampled_from(["alpha", "Beta", "'gamma'", "delta-2", "e.p"]),
        st.sampled_from(["", " ", "   ", "\t"]),
        st.sampled_from(["", " ", "  "]),
        st.sampled_from(["", "  # why", "\t#"]),
    ),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(lines, max_size=12), name=st.sampled_from(["alpha", "beta", "zeta"]))
def test_any_layout_survives_an_edit_except_the_entry(
    tmp_path: Path, body: list[str], name: str
) -> None:
    path = alias_file(tmp_path)
    text = "\n".join(body) + "\n"
    try:
        table = load_aliases_from(path, text)
    except UsageError:
        return  # a duplicate key: not TOML, refused (tested above)
    old = text.splitlines()
    entry = [i for i, line in enumerate(old) if _key_of(line) == name]
    set_alias(tmp_path, name, "o/new")
    new = path.read_text().splitlines()
    if entry:
        (i,) = entry
        assert new[:i] == old[:i] and new[i + 1 :] == old[i + 1 :]
        assert tomllib.loads(new[i]) == {old[i].split("=")[0].strip().strip("'"): "hf:o/new"}
    else:  # one line added after the last entry or comment, everything else as it was
        added = f'{name} = "hf:o/new"'
        assert new.count(added) == 1 and [line for line in new if line != added] == old
        entry = [new.index(added)]
        old = new
    assert load_aliases(tmp_path) == {**table, name: "hf:o/new"}
    remove_alias(tmp_path, name)
    assert path.read_text().splitlines() == [line for j, line in enumerate(old) if j not in entry]


def load_aliases_from(path: Path, text: str) -> dict[str, str]:
    path.write_text(text)
    return load_aliases(path.parent)


def _key_of(line: str) -> str | None:
    if "=" not in line or line.lstrip().startswith("#"):
        return None
    return line.split("=")[0].strip().strip("'").lower()


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_is_edited_exactly_or_refused_untouched(tmp_path: Path, data: bytes) -> None:
    path = alias_file(tmp_path)
    path.write_bytes(data)
    try:
        before = load_aliases(tmp_path)
    except UsageError:
        before = None
    try:
        after = set_alias(tmp_path, "zz-new", "o/r")
    except UsageError:
        assert path.read_bytes() == data
        return
    assert before is not None and after == {**before, "zz-new": "hf:o/r"}
    assert load_aliases(tmp_path) == after
    added = b'zz-new = "hf:o/r"'
    edited = path.read_bytes()
    without = edited.replace(added + b"\r\n", b"", 1).replace(added + b"\n", b"", 1)
    assert edited.count(added) == 1 and without in (data, data + b"\n", data + b"\r\n")


def test_concurrent_alias_commands_keep_every_edit(tmp_path: Path) -> None:
    """Eight ``provisioner alias`` processes at once: each edit survives (R7, no lost update)."""
    load_aliases(tmp_path)  # seeded once, so every process starts from the same file
    exe = str(Path(sys.executable).with_name("provisioner"))
    names = [f"racer{i}" for i in range(8)]
    running = [
        subprocess.Popen(
            [exe, "--home", str(tmp_path), "alias", name, f"org/{name}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name in names
    ]
    for proc in running:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    table = load_aliases(tmp_path)
    assert {name: table.get(name) for name in names} == {n: f"hf:org/{n}" for n in names}
