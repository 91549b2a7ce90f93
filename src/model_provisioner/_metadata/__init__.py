"""Model metadata and structural checks: GGUF, safetensors, config and tokenizer files.

Only headers are read, through ``ByteSource`` (a local file, or HTTP Range requests supplied by
the download code), so summarising a model never touches its weights.
"""

from ._config import (
    ModelConfig,
    TokenizerConfig,
    read_model_config,
    read_tokenizer_config,
    tokenizer_vocab_size,
)
from ._gguf import GGUFHeader, OmittedValue, TensorInfo, TensorInfos, read_gguf_header
from ._safetensors import (
    SafetensorsHeader,
    SafetensorsTensor,
    index_shards,
    read_safetensors_header,
)
from ._source import BufferedSource, ByteSource, BytesSource, FileSource
from ._summary import (
    ModelMetadata,
    read_local_metadata,
    read_model_metadata,
    split_problems,
    structural_problems,
)

__all__ = [
    "BufferedSource",
    "ByteSource",
    "BytesSource",
    "FileSource",
    "GGUFHeader",
    "ModelConfig",
    "ModelMetadata",
    "OmittedValue",
    "SafetensorsHeader",
    "SafetensorsTensor",
    "TensorInfo",
    "TensorInfos",
    "TokenizerConfig",
    "index_shards",
    "read_gguf_header",
    "read_local_metadata",
    "read_model_config",
    "read_model_metadata",
    "read_safetensors_header",
    "read_tokenizer_config",
    "split_problems",
    "structural_problems",
    "tokenizer_vocab_size",
]
