"""Human-readable sizes, in decimal units as the Hub shows them."""

from __future__ import annotations


def format_bytes(n: float) -> str:
    value = float(n)
    if abs(value) < 1000:
        return f"{value:.0f} B"
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if abs(value) < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"
