"""Model extension points (Embedder, LLM) and the registry that resolves spec strings."""

from heron.models.base import LLM, Embedder, GenerateOptions
from heron.models.registry import ModelRegistry, ModelSpec

__all__ = ["LLM", "Embedder", "GenerateOptions", "ModelRegistry", "ModelSpec"]
