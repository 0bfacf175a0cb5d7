"""An "app": everything that defines a question-answering service, as one typed,
serialisable object. The CLI builds one from flags and settings; the server and
packaging (MLflow models, canary versions) build from the same object.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from heron.models.base import GenerateOptions
from heron.models.registry import ModelRegistry
from heron.rag.answer import Asker
from heron.rag.retrieve import Retriever
from heron.rag.traces import TraceSink
from heron.store import Store

#: Best-dense-score thresholds below which an answer abstains, per embedder.
#: How each was measured: docs/rag.md ("Calibrating abstention").
CALIBRATED_THRESHOLDS: dict[str, float] = {
    "bundled:minilm": 0.40,
}


class AppConfig(BaseModel):
    """A RAG application: collection, models, retrieval and decoding settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    collection: str
    llm: str = "bundled:smollm2"
    #: question embedder; None uses the one the collection was built with
    embedder: str | None = None
    k: int = Field(default=4, ge=1, le=100)
    hybrid: bool = True
    abstain_threshold: float | None = None
    max_tokens: int = Field(default=160, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int = 0
    retrieval_timeout_s: float = Field(default=30.0, gt=0)
    generation_timeout_s: float = Field(default=120.0, gt=0)

    def threshold_for(self, embedder_spec: str | None) -> float:
        if self.abstain_threshold is not None:
            return self.abstain_threshold
        # The fragment picks an engine (#onnx, #st, #int8) for the same model and vectors.
        model = (embedder_spec or "").split("#", 1)[0]
        return CALIBRATED_THRESHOLDS.get(model, float("-inf"))


def build_asker(
    config: AppConfig,
    store: Store,
    registry: ModelRegistry,
    traces: TraceSink | None = None,
) -> Asker:
    """Wire an ``Asker`` from an app config (models load lazily on first use)."""
    collection = store.get_collection(config.collection)
    spec = config.embedder or collection.embedder_spec
    embedder = registry.embedder(spec) if spec else None
    return Asker(
        retriever=Retriever(collection, k=config.k, hybrid=config.hybrid, embedder=embedder),
        llm=registry.llm(config.llm),
        embedder=embedder,
        abstain_threshold=config.threshold_for(spec),
        options=GenerateOptions(
            max_tokens=config.max_tokens, temperature=config.temperature, seed=config.seed
        ),
        retrieval_timeout_s=config.retrieval_timeout_s,
        generation_timeout_s=config.generation_timeout_s,
        traces=traces,
    )
