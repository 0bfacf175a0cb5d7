"""Retrieval-augmented answers: hybrid retrieval, delimited prompts, cited and
grounded answers that abstain when nothing relevant is found."""

from heron.rag.answer import ABSTAIN_TEXT, Asker, AskEvent
from heron.rag.retrieve import Retrieval, Retriever, reciprocal_rank_fusion

__all__ = ["ABSTAIN_TEXT", "AskEvent", "Asker", "Retrieval", "Retriever", "reciprocal_rank_fusion"]
