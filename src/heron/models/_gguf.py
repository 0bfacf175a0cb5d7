"""Just enough of the GGUF format to check a file and read its trained context.

Reading the header lets ``gguf:`` validate a path and size its context window
without loading llama.cpp or the weights. Only GGUF v2/v3 (every file written
since 2023) is understood; anything else reports "unknown" and llama.cpp decides.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"
_SCALAR_FORMATS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i",
    6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING = 8
_ARRAY = 9
_MAX_KEYS = 100_000


def has_gguf_magic(path: Path) -> bool:
    """Whether ``path`` starts with the GGUF magic bytes."""
    with path.open("rb") as handle:
        return handle.read(4) == MAGIC


def _read(handle: BinaryIO, fmt: str) -> int | float | bool:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise EOFError("truncated GGUF header")
    value: int | float | bool = struct.unpack(fmt, data)[0]
    return value


def _read_u64(handle: BinaryIO) -> int:
    return int(_read(handle, "<Q"))


def _read_string(handle: BinaryIO) -> str:
    length = _read_u64(handle)
    data = handle.read(length)
    if len(data) != length:
        raise EOFError("truncated GGUF string")
    return data.decode("utf-8", errors="replace")


def _skip_value(handle: BinaryIO, value_type: int) -> None:
    if value_type == _STRING:
        handle.seek(_read_u64(handle), 1)
    elif value_type == _ARRAY:
        element_type = int(_read(handle, "<I"))
        count = _read_u64(handle)
        if element_type in _SCALAR_FORMATS:
            handle.seek(count * struct.calcsize(_SCALAR_FORMATS[element_type]), 1)
        else:
            for _ in range(count):
                _skip_value(handle, element_type)
    elif value_type in _SCALAR_FORMATS:
        handle.seek(struct.calcsize(_SCALAR_FORMATS[value_type]), 1)
    else:
        raise ValueError(f"unknown GGUF value type {value_type}")


def _read_value(handle: BinaryIO, value_type: int) -> int | float | bool | str | None:
    if value_type == _STRING:
        return _read_string(handle)
    if value_type in _SCALAR_FORMATS:
        return _read(handle, _SCALAR_FORMATS[value_type])
    _skip_value(handle, value_type)
    return None


def trained_context_length(path: Path) -> int | None:
    """``<architecture>.context_length`` from the header, or None when unknown."""
    try:
        with path.open("rb") as handle:
            return _scan_for_context(handle)
    except (OSError, EOFError, ValueError, struct.error):
        return None


def _scan_for_context(handle: BinaryIO) -> int | None:
    if handle.read(4) != MAGIC or int(_read(handle, "<I")) not in (2, 3):
        return None
    _read_u64(handle)  # tensor count
    key_count = min(_read_u64(handle), _MAX_KEYS)
    architecture: str | None = None
    for _ in range(key_count):
        key = _read_string(handle)
        value_type = int(_read(handle, "<I"))
        if key == "general.architecture" or key.endswith(".context_length"):
            value = _read_value(handle, value_type)
            if key == "general.architecture":
                architecture = str(value)
            elif architecture is None or key == f"{architecture}.context_length":
                return int(value) if isinstance(value, int | float) else None
        else:
            _skip_value(handle, value_type)
    return None
