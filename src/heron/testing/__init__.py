"""Test support that ships with the package: fakes and the store conformance suite."""

from heron.testing.fakes import HashEmbedder, ScriptedLLM

__all__ = ["HashEmbedder", "ScriptedLLM"]
