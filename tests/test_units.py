"""Sizes for people: decimal units as the Hub shows them, one decimal from KB up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model_provisioner._units import counted, format_bytes


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 KB"),
        (1536, "1.5 KB"),
        (999_949, "999.9 KB"),
        (4_370_000_000, "4.4 GB"),
        (1_000_000_000_000, "1.0 TB"),
        (2_500_000_000_000_000, "2500.0 TB"),
        (999_950, "1.0 MB"),
        (999_950_000, "1.0 GB"),
        (999.6, "1.0 KB"),
        (-2048, "-2.0 KB"),
    ],
)
def test_format_bytes(n: int, shown: str) -> None:
    assert format_bytes(n) == shown


@given(st.integers(min_value=0, max_value=10**18))
def test_format_bytes_is_a_number_and_a_unit_that_reads_back_close(n: int) -> None:
    number, unit = format_bytes(n).split(" ")
    scale = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}[unit]
    assert abs(float(number) * scale - n) <= 0.05 * scale + 0.5
    if unit != "TB":
        assert float(number) < 1000


def test_counts_read_as_a_person_writes_them() -> None:
    assert [counted(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
