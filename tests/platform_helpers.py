"""Run code as on a system without the Linux-only calls (macOS and others)."""

from __future__ import annotations

import dataclasses
import os

import pytest

from model_provisioner._platform import CAPS

LINUX_ONLY = ("fdatasync", "posix_fadvise", "POSIX_FADV_DONTNEED", "O_DIRECT", "preadv")


def without_linux_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every capability flag off, and the Linux-only ``os`` names gone, as on macOS: a call
    that bypassed the platform helper would fail with AttributeError, as it did there."""
    for field in dataclasses.fields(CAPS):
        monkeypatch.setattr(CAPS, field.name, False)
    for name in LINUX_ONLY:
        monkeypatch.delattr(os, name, raising=False)
