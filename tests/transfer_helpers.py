"""Shared by the transfer tests: a repo of real files on the fixture Hub and jobs for it."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from model_provisioner._hub import HubSettings
from model_provisioner._progress import TransferStats
from model_provisioner._transfer import TransferEngine, TransferJob, TransferOptions
from tests.hub import FixtureHub
from tests.makers import big_file

MiB = 1 << 20
REPO = "Fixture/Transfer-Test"
FAST = TransferOptions(
    max_connections=4,
    stall_timeout=0.5,
    timeout=5.0,
    retries=3,
    backoff_base=0.01,
    backoff_cap=0.05,
    checkpoint=1 * MiB,
    journal_interval=0.05,
)


@dataclass
class Fetch:
    """A repo on the fixture Hub and what the engine needs to fetch it."""

    hub: FixtureHub
    commit: str
    sources: dict[str, Path]
    partial_dir: Path

    def jobs(self, settings: HubSettings, paths: list[str] | None = None) -> list[TransferJob]:
        repo = self.hub.find_repo(REPO)
        assert repo is not None
        entries = self.hub.entries(repo, self.commit)
        return [
            TransferJob(
                url=settings.file_url(REPO, self.commit, path),
                path=path,
                size=entries[path].size,
                sha256=entries[path].sha256 if entries[path].lfs else None,
                git_sha1=None if entries[path].lfs else entries[path].oid,
                partial=self.partial_dir / f"{entries[path].sha256}.part",
            )
            for path in (paths or sorted(self.sources))
        ]

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.sources[path].read_bytes()).hexdigest()


def make_fetch(hub: FixtureHub, tmp: Path, sizes: dict[str, int]) -> Fetch:
    """Files of the given sizes (distinct contents) committed to REPO."""
    sources: dict[str, Path] = {}
    for i, (path, size) in enumerate(sorted(sizes.items())):
        sources[path] = big_file(tmp / "sources" / path, size, seed=i + 1)
    commit = hub.add_commit(REPO, {p: s for p, s in sources.items()})
    return Fetch(hub, commit, sources, tmp / "partial")


def run_engine(
    settings: HubSettings,
    jobs: list[TransferJob],
    options: TransferOptions = FAST,
    cancel: threading.Event | None = None,
) -> dict[str, str]:
    return TransferEngine(settings, options).run(jobs, TransferStats(), cancel or threading.Event())
