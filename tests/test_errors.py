"""The error hierarchy: every class states its code, exit code and HTTP status, and the tree in
the module docstring is the tree of the classes (the docs a reader trusts cannot drift)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from model_provisioner import _errors
from model_provisioner._errors import (
    DamagedManifest,
    IntegrityError,
    ProvisionerError,
)

_CLASSES = [
    c for c in vars(_errors).values() if inspect.isclass(c) and issubclass(c, ProvisionerError)
]
_TREE_LINE = re.compile(r"^\s*(?:[│ ]*[├└]── )?(\w+)\s+exit (\d)\s+\((\d{3})\)", re.M)


def test_every_class_has_a_unique_code_an_exit_code_and_a_status() -> None:
    codes = [c.code for c in _CLASSES]
    assert len(codes) == len(set(codes)), "two classes share an error code"
    for c in _CLASSES:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", c.code), c
        assert c.exit_code in (1, 2, 3, 4, 5, 6), c
        assert 400 <= c.http_status <= 599, c
        assert c.__doc__, c


def test_the_docstring_tree_lists_every_class_with_its_codes_and_parent() -> None:
    doc = _errors.__doc__ or ""
    rows = {name: (int(ex), int(st)) for name, ex, st in _TREE_LINE.findall(doc)}
    assert set(rows) == {c.__name__ for c in _CLASSES}
    for c in _CLASSES:
        assert rows[c.__name__] == (c.exit_code, c.http_status), c
    # Indentation is depth: each class sits right under its base's line.
    depth: dict[str, int] = {}
    parents: dict[str, str] = {}
    stack: list[str] = []
    for line in doc.splitlines():
        m = _TREE_LINE.match(line)
        if not m:
            continue
        name = m.group(1)
        level = 0 if "──" not in line else line.index("──") // 4
        depth[name] = level
        del stack[level:]
        if stack:
            parents[name] = stack[-1]
        stack.append(name)
    for c in _CLASSES:
        if c is ProvisionerError:
            assert depth[c.__name__] == 0
        else:
            assert parents[c.__name__] == c.__bases__[0].__name__, c


def test_the_message_carries_the_hint_and_integrity_errors_their_problems() -> None:
    plain = ProvisionerError("it broke")
    assert str(plain) == "it broke"
    assert str(ProvisionerError("it broke", hint="try again")) == "it broke (try again)"
    assert IntegrityError("bad").problems == []
    damaged = DamagedManifest(Path("/h/manifests/x.json"), "not valid JSON")
    assert isinstance(damaged, IntegrityError)
    assert damaged.exit_code == 4
    assert damaged.problems == ["/h/manifests/x.json: not valid JSON"]
    assert "pull the model again" in str(damaged)
