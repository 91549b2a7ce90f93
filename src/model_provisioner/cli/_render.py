"""Show DownloadProgress events: rich bars on a terminal, JSON lines with --json.

The bars fit 80 columns: a 22-character label, an 18-character bar, bytes, speed and time left.
A one-file pull shows one bar (named for the file); a multi-file pull a total bar plus one bar
per file in flight.
"""

from __future__ import annotations

from types import TracebackType

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .._progress import DownloadProgress, Stage
from ._app import App

LABEL = 22
BAR = 18


class ProgressView:
    """Bars on stderr (never in the way of stdout); a stalled pull says so."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.bars = Progress(
            TextColumn(f"{{task.description:<{LABEL}}}", markup=False),
            BarColumn(bar_width=BAR),
            DownloadColumn(binary_units=False),
            TransferSpeedColumn(),
            TimeRemainingColumn(compact=True),
            console=app.err,
            transient=True,
            disable=not app.err.is_terminal,
        )
        self.total: TaskID | None = None
        self.files: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressView:
        if not self.app.json_output:
            self.bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.app.json_output:
            self.bars.stop()

    def __call__(self, event: DownloadProgress) -> None:
        if self.app.json_output:
            self.app.emit_json({"event": "progress", **event.to_dict()})
            return
        if event.stage is not Stage.DOWNLOADING:
            self._status(event)
            return
        single = event.files_total <= 1
        label = "stalled" if event.stalled else "total"
        if single and event.active_files and not event.stalled:
            label = event.active_files[0][0]
        if self.total is None:
            self.total = self.bars.add_task(short(label), total=event.bytes_total)
        self.bars.update(
            self.total,
            completed=event.bytes_done,
            total=event.bytes_total,
            description=short(label),
        )
        if single:
            return
        active = {p for p, _, _ in event.active_files}
        for path, done, size in event.active_files:
            if path not in self.files:
                self.files[path] = self.bars.add_task(short(path), total=size)
            self.bars.update(self.files[path], completed=done)
        for path in list(self.files):
            if path not in active:
                self.bars.remove_task(self.files.pop(path))

    def _status(self, event: DownloadProgress) -> None:
        if event.stage is Stage.RESOLVING:
            self.app.err.print(f"resolving {event.reference}", highlight=False, soft_wrap=True)
        elif event.stage is Stage.VERIFYING:
            self.app.err.print("verified, committing to the store", highlight=False)


def short(path: str, width: int = LABEL) -> str:
    """The end of a long name (where the quantization tag is), marked with '...'."""
    name = path.rsplit("/", 1)[-1]
    return name if len(name) <= width else "..." + name[-(width - 3) :]
