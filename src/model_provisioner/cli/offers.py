"""provisioner info --remote REF: what the Hub has, read from headers alone."""

from __future__ import annotations

import sys

from .._units import format_bytes
from ._app import App
from ._table import aligned
from .info import key_values


def show_remote(app: App, reference: str) -> None:
    found = app.provisioner.inspect_remote(reference)
    data = found.to_dict()
    if app.json_output:
        app.emit_json(data)
        return
    rows = {
        "reference": data["reference"],
        "commit": data["commit"],
        "size": format_bytes(found.plan.bytes_total),
    }
    rows.update({k: str(v) for k, v in (data["metadata"] or {}).items() if v is not None})
    rows.pop("schema", None)
    rows["header error"] = found.error or ""
    rows["read"] = f"{format_bytes(found.bytes_read)} in {found.requests} requests"
    sys.stdout.write(key_values(rows))
    files = [
        (f["path"], format_bytes(f["size"]), "yes" if f["in_store"] else "no")
        for f in data["files"]
    ]
    sys.stdout.write("\n" + aligned(("FILE", "SIZE", "IN STORE"), files, right={1}))
