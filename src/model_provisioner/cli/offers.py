"""provisioner info --remote REF: what the Hub has, read from headers alone.

Every quantization with its size, bits per weight, the memory a worker needs, and whether it
fits the free disk; ``*`` marks the one the reference pulls.
"""

from __future__ import annotations

import sys

from .._units import counted, format_bytes
from ._app import App
from ._table import aligned
from .info import key_values


def show_remote(app: App, reference: str, context: int) -> None:
    found = app.provisioner.remote_offers(reference, context=context)
    inspection = found.inspection
    data = found.to_dict()
    if app.json_output:
        app.emit_json(data)
        return
    rows = {"reference": data["reference"], "commit": data["commit"]}
    rows.update({k: str(v) for k, v in (data["metadata"] or {}).items() if v is not None})
    rows.pop("schema", None)
    rows["header error"] = inspection.error or ""
    rows["read"] = (
        f"{format_bytes(inspection.bytes_read)} in {counted(inspection.requests, 'request')}"
    )
    rows["free disk"] = format_bytes(inspection.plan.free)
    sys.stdout.write(key_values(rows))
    if found.offers:
        cells = [
            (
                o.quant + ("*" if o.default else ""),
                format_bytes(o.size),
                f"{o.bits_per_weight:.2f}" if o.bits_per_weight else "-",
                format_bytes(o.memory),
                "yes" if o.fits else "no",
                " ".join(o.files),
            )
            for o in found.offers
        ]
        header = ("QUANT", "SIZE", "BPW", f"MEMORY@{context}", "FITS", "FILES")
        sys.stdout.write("\n" + aligned(header, cells, right={1, 2, 3}))
        sys.stdout.write(f"* what `provisioner pull {reference}` takes\n")
    files = [
        (f["path"], format_bytes(f["size"]), "yes" if f["in_store"] else "no")
        for f in data["files"]
    ]
    sys.stdout.write("\n" + aligned(("FILE", "SIZE", "IN STORE"), files, right={1}))
