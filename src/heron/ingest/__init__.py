"""Ingest: files and built-in corpora to documents, documents to chunks.

The pieces of the ingest pipeline (load → chunk → check → embed → write) up to
chunking; embedding and writing to a store live with the pipeline, not here.
Importing this package reads no file and starts no process.
"""

from heron.ingest.chunking import (
    CHUNKERS,
    Chunker,
    ChunkerName,
    SentenceChunker,
    StructureChunker,
    TokenChunker,
    count_tokens,
    make_chunker,
)
from heron.ingest.corpora import available_corpora, load_corpus
from heron.ingest.loaders import (
    LOADERS,
    SUPPORTED_EXTENSIONS,
    LoadedFile,
    LoadResult,
    SkippedFile,
    file_hash,
    find_files,
    load_file,
    load_path,
)
from heron.ingest.structure import Heading

__all__ = [
    "CHUNKERS",
    "LOADERS",
    "SUPPORTED_EXTENSIONS",
    "Chunker",
    "ChunkerName",
    "Heading",
    "LoadResult",
    "LoadedFile",
    "SentenceChunker",
    "SkippedFile",
    "StructureChunker",
    "TokenChunker",
    "available_corpora",
    "count_tokens",
    "file_hash",
    "find_files",
    "load_corpus",
    "load_file",
    "load_path",
    "make_chunker",
]
