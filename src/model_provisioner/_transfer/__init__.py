"""The transfer engine: bytes from URLs into verified partial files."""

from ._engine import TransferEngine, TransferJob, TransferOptions
from ._journal import discard_journal

__all__ = ["TransferEngine", "TransferJob", "TransferOptions", "discard_journal"]
