"""The transfer engine: bytes from URLs into verified partial files."""

from ._engine import TransferEngine
from ._options import TransferJob, TransferOptions

__all__ = ["TransferEngine", "TransferJob", "TransferOptions"]
