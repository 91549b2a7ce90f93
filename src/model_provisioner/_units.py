"""Human-readable sizes (in decimal units, as the Hub shows them) and counts."""

from __future__ import annotations


def format_bytes(n: float) -> str:
    """Compared after rounding as shown, so 999,950,000 reads 1.0 GB, never 1000.0 MB."""
    value = float(n)
    if abs(round(value)) < 1000:
        return f"{value:.0f} B"
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if abs(round(value, 1)) < 1000:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


def counted(n: int, noun: str) -> str:
    """``1 file``, ``2 files``: a count a person reads (nouns here take a plain ``s``)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
