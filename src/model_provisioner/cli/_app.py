"""What every command shares: the provisioner, the console, and how results are printed."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from .._provisioner import ModelProvisioner


@dataclass
class App:
    provisioner: ModelProvisioner
    json_output: bool = False
    console: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))

    def emit_json(self, data: Any) -> None:
        """One JSON document per line on stdout: stable for scripts."""
        sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def say(self, text: str) -> None:
        if not self.json_output:
            self.console.print(text, highlight=False, soft_wrap=True)
