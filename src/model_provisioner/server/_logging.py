"""The service's log: Python logging to stderr, one line per record, uvicorn's own log included.

uvicorn's access log is off; ours (``_access_log``) replaces it. Set up by ``run_service`` only,
so embedding the app (or a test running it in a thread) keeps the host's logging untouched.
"""

from __future__ import annotations

import logging
import sys
import time


class OneLineFormatter(logging.Formatter):
    """UTC timestamps; a traceback or a multi-line message is folded onto the record's line, so
    one record is always one line for grep and log shippers."""

    converter = staticmethod(time.gmtime)

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


def configure_logging(level: str) -> None:
    """Our records and uvicorn's at ``level`` to stderr. Set by hand, not by dictConfig, which
    would reset every other logger (and turn uvicorn's access log back on)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter())
    for name in ("uvicorn", "model_provisioner"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
