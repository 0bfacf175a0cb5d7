"""Heron: build, evaluate and ship LLM applications on open models, offline first.

The top level re-exports the handful of entry points most programs need; the
packages below hold the rest. Importing ``heron`` loads no model and touches no file.
"""

from heron.errors import HeronError
from heron.store import open_store
from heron.types import Answer, Chunk, Citation, Document, Hit

__all__ = ["Answer", "Chunk", "Citation", "Document", "HeronError", "Hit", "open_store"]
__version__ = "0.1.0"
