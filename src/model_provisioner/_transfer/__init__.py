"""The transfer engine: bytes from URLs into verified partial files."""

from ._engine import TransferEngine, TransferJob, TransferOptions

__all__ = ["TransferEngine", "TransferJob", "TransferOptions"]
