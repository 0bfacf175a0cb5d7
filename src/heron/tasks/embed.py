"""Zero-shot classification by embedding similarity (the bundled MiniLM, ``st:``, ``hash:``).

Each label becomes a hypothesis sentence ("This text is about {label}."); a text
gets the label whose hypothesis embedding is closest (cosine). Scores are the
cosine similarities, not probabilities. Texts and hypotheses are embedded in
batches with ``embed_many``, which is where batching pays off. A text longer than
the embedder's ``max_seq_length`` is cut by the embedder; it is flagged using the
tokenizer-free estimate (the Embedder interface exposes no tokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heron.errors import InputError
from heron.models.base import Embedder, approx_token_count
from heron.tasks.results import Label

DEFAULT_TEMPLATE = "This text is about {}."


def hypotheses(labels: Sequence[str], template: str) -> list[str]:
    if "{}" not in template:
        raise InputError(
            f"the hypothesis template {template!r} has no {{}} slot for the label",
            hint='example: "This text is about {}."',
        )
    return [template.replace("{}", label) for label in labels]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def embedding_zero_shot(
    embedder: Embedder,
    texts: Sequence[str],
    labels: Sequence[str],
    template: str = DEFAULT_TEMPLATE,
    batch_size: int = 64,
) -> list[Label]:
    """The closest label for each text, with every label's cosine similarity."""
    label_vectors = embedder.embed_many(hypotheses(labels, template), batch_size=batch_size)
    text_vectors = embedder.embed_many(list(texts), batch_size=batch_size)
    if not embedder.normalized:
        label_vectors, text_vectors = _unit(label_vectors), _unit(text_vectors)
    similarity = text_vectors @ label_vectors.T
    limit = getattr(embedder, "max_seq_length", None)
    results = []
    for text, row in zip(texts, similarity, strict=True):
        scores = {label: round(float(s), 6) for label, s in zip(labels, row, strict=True)}
        best = labels[int(np.argmax(row))]
        truncated = isinstance(limit, int) and approx_token_count(text) > limit
        results.append(Label(best, scores[best], scores, truncated))
    return results
