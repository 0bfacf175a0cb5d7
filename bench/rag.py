"""RAG benchmark: ``heron ask`` latency by stage, and Heron's LLM overhead vs raw llama.cpp.

Goal: Heron's generation runs within 5% of raw ``llama_cpp.Llama`` tokens/s on the
same prompt, and the retrieve / prompt stages are small next to generation.

1. Stages. A ``pydocs`` collection (stdlib corpus, ``bundled:minilm``: ONNX Runtime
   when installed, else sentence-transformers; the JSON records which) is reused from
   ``--home`` when it exists, else built there with Heron's ingest pipeline (``--limit``
   documents). An asker is wired exactly as ``heron ask`` wires it: ``build_asker(
   AppConfig(collection="pydocs", llm="bundled:smollm2", max_tokens=N), store,
   registry, traces)``. Loading the models and a warm-up question are timed apart
   (the cold start a fresh ``heron ask`` process pays); then each question in
   ``QUESTIONS`` is asked once and ``Answer.timings`` (retrieve_s, prompt_s,
   generate_s, total_s) is recorded, with p50/p95 per stage over the answered ones.
   Completion tokens are the model tokenizer's count of the model's text
   (``Answer.model_text``); generate tokens/s includes prompt evaluation (prefill),
   as a user waits for it.
2. Overhead. Each answered question is asked again with a recording stand-in for
   the LLM (no generation), which captures the exact messages Heron sends; the same
   replay splits ``prompt_s`` into building the prompt and embedding the top
   passage's sentences for the lead sentence. The first ``--overhead-prompts`` of
   those prompts are then generated alternately by raw ``llama_cpp.Llama(
   model_path=<smollm2 gguf>, n_ctx=<Heron's>, n_threads=N, n_threads_batch=N,
   verbose=False).create_chat_completion(..., stream=True)`` and by Heron's
   ``registry.llm("bundled:smollm2").stream(messages, GenerateOptions(max_tokens=N,
   temperature=0, seed=0))``, ``--repeats`` times each, the order flipped every
   repeat. This is the LLM layer: the asker's own extra stop strings (recorded in
   the JSON) are left out of both. Both use the same sampling settings (Heron's
   defaults: top_k 40, top_p 1, repeat_penalty 1.1, greedy), so they produce the
   same tokens (checked and reported). EOS is not suppressed (Heron's options have
   no logit bias): tokens/s is over whatever was produced, identical for both.
   Both models' KV caches are reset before every call, so every call pays the full
   prefill, as a new question does. Reported: time to first token, end-to-end
   tokens/s (prefill included), decode tokens/s ((n-1) / (last - first token)),
   and the overhead ``1 - heron / raw`` on each (median over back-to-back pairs).

Run::

    .venv/bin/python bench/rag.py --home /tmp/hh --threads 2
    .venv/bin/python bench/rag.py --limit 300 --max-tokens 64 --repeats 2   # quick check

Output: markdown tables on stdout, ``bench/results/rag.json`` and ``bench/results/rag.png``
(stacked retrieve / prompt / generate seconds per question).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from time import perf_counter
from typing import Any

from _stacks import (
    RESULTS_DIR,
    Clock,
    TimedEmbedder,
    go_offline,
    machine_info,
    markdown_table,
    median,
    percentile,
    pin_torch_threads,
    progress_bar,
    smollm2_gguf,
    write_json,
)
from heron.ingest import load_corpus, make_chunker
from heron.ingest.pipeline import group_documents, ingest_groups
from heron.models.base import LLM, GenerateOptions, Prompt, as_messages
from heron.models.llamacpp import LlamaCppLLM
from heron.models.registry import ModelRegistry
from heron.rag.answer import Asker
from heron.rag.app import AppConfig, build_asker
from heron.rag.traces import TraceSink
from heron.store import Store, open_store
from heron.types import Completion, Message

COLLECTION = "pydocs"
EMBEDDER = "bundled:minilm"
LLM_SPEC = "bundled:smollm2"
STAGES = ("retrieve_s", "prompt_s", "generate_s")
WARMUP_QUESTION = "What does the os module provide?"
QUESTIONS = (
    "How do I split a shell command line into words, respecting quotes?",
    "How do I find the longest common leading path of a list of paths?",
    "How do I parse a JSON document from a string?",
    "How do I compute the SHA-256 hex digest of some bytes?",
    "How do I create a temporary directory that is removed when I am done?",
    "How do I read a CSV file as dictionaries keyed by the header row?",
    "How do I create a tuple subclass with named fields?",
    "How do I schedule a function to run after a delay with an event scheduler?",
)
RAW, HERON = "raw llama_cpp", "heron"


# ------------------------------------------------------------------ the store


def open_pydocs(home: Path, registry: ModelRegistry, limit: int | None, cache: Path) -> Store:
    """The store at ``home`` with a non-empty ``pydocs`` collection (built if missing)."""
    store = open_store(home, registry=registry)
    existing = {info.name: info.count for info in store.list_collections()}
    if existing.get(COLLECTION):
        return store
    docs = load_corpus("stdlib", cache_dir=cache)
    docs = docs[:limit] if limit else docs
    collection = store.get_or_create_collection(COLLECTION, embedder=EMBEDDER)
    with progress_bar() as bar:
        task = bar.add_task(f"building {COLLECTION} ({len(docs)} documents)", total=None)

        def start(total: int) -> Callable[[int], None]:
            bar.update(task, total=total)
            return lambda done: bar.advance(task, done)

        ingest_groups(collection, group_documents(docs), make_chunker("structure"), progress=start)
    return store


# ------------------------------------------------------------------- stages


@dataclass(frozen=True)
class AskRecord:
    """One ``Asker.ask`` call."""

    question: str
    abstained: bool
    timings: dict[str, float]
    completion_tokens: int
    passages: int
    model_text: str

    @property
    def generate_tokens_per_s(self) -> float:
        seconds = self.timings.get("generate_s", 0.0)
        return self.completion_tokens / seconds if seconds > 0 else float("nan")


def ask_once(asker: Asker, llm: LlamaCppLLM, question: str) -> AskRecord:
    answer = asker.ask(question)
    tokens = llm.count_tokens(answer.model_text) if answer.model_text else 0
    timings = dict(answer.timings)
    passages = len(answer.citations)
    return AskRecord(question, answer.abstained, timings, tokens, passages, answer.model_text or "")


def stage_summary(records: Sequence[AskRecord]) -> dict[str, dict[str, float]]:
    """p50 / p95 / mean per stage over the answered questions (abstentions skip generation)."""
    answered = [r for r in records if not r.abstained]
    out: dict[str, dict[str, float]] = {}
    for stage in (*STAGES, "total_s"):
        values = [r.timings.get(stage, 0.0) for r in answered]
        out[stage] = {
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "mean": sum(values) / len(values) if values else float("nan"),
        }
    return out


class RecordingLLM(LLM):
    """Stands in for the LLM in an untimed replay: records what Heron sends, generates nothing.

    Token counting and the context window come from the real model, so the asker
    builds exactly the prompt it built in the timed run.
    """

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.context_window = inner.context_window
        self.sent: list[tuple[list[Message], GenerateOptions | None]] = []

    def generate(self, prompt: Prompt, options: GenerateOptions | None = None) -> Completion:
        self.sent.append((as_messages(prompt), options))
        return Completion("")

    def stream(self, prompt: Prompt, options: GenerateOptions | None = None) -> Iterator[str]:
        self.sent.append((as_messages(prompt), options))
        return iter(())

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


@dataclass(frozen=True)
class Replay:
    """One question asked again without generation: what was sent, and prompt_s's parts."""

    messages: list[Message]
    options: dict[str, Any]
    prompt_s: float
    lead_embed_s: float


def replay(asker: Asker, question: str) -> Replay:
    """Ask ``question`` again with a recording LLM and a clocked lead-sentence embedder.

    The asker embeds the top passage's sentences to pick its lead sentence (part of
    ``prompt_s``); retrieval embeds through the collection's own embedder handle, so
    the clock sees only the lead sentence's embedding.
    """
    recorder = RecordingLLM(asker.llm)
    clock = Clock()
    embedder = None if asker.embedder is None else TimedEmbedder(asker.embedder, clock)
    answer = replace(asker, llm=recorder, embedder=embedder, traces=None).ask(question)
    messages, options = recorder.sent[0]
    return Replay(
        messages,
        options.model_dump() if options is not None else {},
        answer.timings.get("prompt_s", 0.0),
        clock.totals.get("embed", 0.0),
    )


# ----------------------------------------------------------------- overhead


@dataclass(frozen=True)
class StreamRun:
    """One streamed generation, timed from the call to the last piece."""

    stack: str
    prompt: int
    repeat: int
    first_s: float
    total_s: float
    tokens: int
    text: str

    @property
    def e2e_tokens_per_s(self) -> float:
        return self.tokens / self.total_s if self.total_s > 0 else float("nan")

    @property
    def decode_tokens_per_s(self) -> float:
        span = self.total_s - self.first_s
        return (self.tokens - 1) / span if self.tokens > 1 and span > 0 else float("nan")


def time_stream(pieces: Iterator[str]) -> tuple[float, float, str]:
    """(seconds to first piece, seconds to last piece, text)."""
    start = perf_counter()
    first = 0.0
    parts: list[str] = []
    for piece in pieces:
        if not parts:
            first = perf_counter() - start
        parts.append(piece)
    return first, perf_counter() - start, "".join(parts)


def raw_pieces(llama: Any, messages: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
    """Raw llama-cpp-python streaming with Heron's default sampling settings."""
    chunks = llama.create_chat_completion(
        messages=messages,
        max_tokens=max_tokens,
        temperature=0.0,
        top_p=1.0,
        top_k=40,
        repeat_penalty=1.1,
        seed=0,
        stream=True,
    )
    for chunk in chunks:
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            yield piece


@dataclass
class Overhead:
    """The two generators of the comparison, sharing prompts and settings."""

    llm: LlamaCppLLM
    raw: Any
    max_tokens: int

    def call(self, stack: str, messages: list[Message], prompt: int, repeat: int) -> StreamRun:
        self.raw.reset()  # cold KV cache for both: every call pays the full prefill
        self.llm.llama.reset()
        if stack == RAW:
            dicts = [{"role": m.role, "content": m.content} for m in messages]
            first, total, text = time_stream(raw_pieces(self.raw, dicts, self.max_tokens))
        else:
            options = GenerateOptions(max_tokens=self.max_tokens, temperature=0, seed=0)
            first, total, text = time_stream(self.llm.stream(messages, options))
        tokens = self.llm.count_tokens(text) if text else 0
        return StreamRun(stack, prompt, repeat, first, total, tokens, text)


def load_raw(llm: LlamaCppLLM, threads: int) -> Any:
    import llama_cpp

    return llama_cpp.Llama(
        model_path=str(smollm2_gguf()),
        n_ctx=llm.context_window,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )


def run_overhead(
    overhead: Overhead, prompts: Sequence[list[Message]], repeats: int
) -> list[StreamRun]:
    overhead.call(RAW, prompts[0], -1, -1)  # warm-up, untimed
    overhead.call(HERON, prompts[0], -1, -1)
    plan = [
        (stack, index, repeat)
        for index in range(len(prompts))
        for repeat in range(repeats)
        for stack in ((RAW, HERON) if repeat % 2 == 0 else (HERON, RAW))
    ]
    runs = []
    with progress_bar() as bar:
        task = bar.add_task("raw vs heron generations", total=len(plan))
        for stack, index, repeat in plan:
            runs.append(overhead.call(stack, prompts[index], index, repeat))
            bar.advance(task)
    return runs


def overhead_summary(runs: Sequence[StreamRun]) -> dict[str, Any]:
    per_stack: dict[str, dict[str, float]] = {}
    for stack in (RAW, HERON):
        mine = [r for r in runs if r.stack == stack]
        per_stack[stack] = {
            "calls": len(mine),
            "tokens_p50": median([r.tokens for r in mine]),
            "first_token_s_p50": median([r.first_s for r in mine]),
            "e2e_tokens_per_s_p50": median([r.e2e_tokens_per_s for r in mine]),
            "decode_tokens_per_s_p50": median([r.decode_tokens_per_s for r in mine]),
        }
    by_prompt: dict[int, set[str]] = {}
    for run in runs:
        by_prompt.setdefault(run.prompt, set()).add(run.text)
    return {
        "per_stack": per_stack,
        "overhead_e2e": paired_overhead(runs, lambda r: r.e2e_tokens_per_s),
        "overhead_decode": paired_overhead(runs, lambda r: r.decode_tokens_per_s),
        "identical_text": all(len(texts) == 1 for texts in by_prompt.values()),
    }


def paired_overhead(runs: Sequence[StreamRun], rate: Callable[[StreamRun], float]) -> float:
    """Median over back-to-back (raw, heron) pairs of ``1 - heron rate / raw rate``.

    Pairing on the same prompt and repeat cancels prompt length and slow spells that
    last longer than one pair.
    """
    pairs: dict[tuple[int, int], dict[str, float]] = {}
    for run in runs:
        pairs.setdefault((run.prompt, run.repeat), {})[run.stack] = rate(run)
    return median([1 - p[HERON] / p[RAW] for p in pairs.values() if len(p) == 2 and p[RAW]])


# -------------------------------------------------------------------- report


def render_stages(records: Sequence[AskRecord], summary: dict[str, dict[str, float]]) -> str:
    rows = [
        [
            i + 1,
            r.question[:60],
            *(f"{r.timings.get(s, 0.0):.3f}" for s in (*STAGES, "total_s")),
            r.completion_tokens,
            f"{r.generate_tokens_per_s:.1f}" if not r.abstained else "abstained",
        ]
        for i, r in enumerate(records)
    ]
    per_q = markdown_table(
        ["#", "question", "retrieve s", "prompt s", "generate s", "total s", "tokens", "tok/s"],
        rows,
    )
    total = summary["total_s"]["mean"]
    stage_rows = [
        [s, f"{v['p50']:.3f}", f"{v['p95']:.3f}", f"{100 * v['mean'] / total:.1f}%"]
        for s, v in summary.items()
    ]
    answered = sum(not r.abstained for r in records)
    note = f"\n\nstages over the {answered} answered of {len(records)} questions:\n"
    return per_q + note + markdown_table(["stage", "p50 s", "p95 s", "share"], stage_rows)


def render_overhead(summary: dict[str, Any]) -> str:
    rows = []
    for stack, v in summary["per_stack"].items():
        rows.append(
            [
                stack,
                v["calls"],
                f"{v['tokens_p50']:.0f}",
                f"{v['first_token_s_p50']:.3f}",
                f"{v['e2e_tokens_per_s_p50']:.1f}",
                f"{v['decode_tokens_per_s_p50']:.1f}",
            ]
        )
    table = markdown_table(
        ["stack", "calls", "tokens p50", "first token s p50", "e2e tok/s p50", "decode tok/s p50"],
        rows,
    )
    return (
        f"{table}\n\noverhead (1 - heron/raw, median of back-to-back pairs): "
        f"end-to-end {100 * summary['overhead_e2e']:+.1f}%, "
        f"decode {100 * summary['overhead_decode']:+.1f}%; "
        f"identical generated text: {summary['identical_text']}"
    )


def plot_stages(records: Sequence[AskRecord], path: Path) -> None:
    """Stacked bars: retrieve / prompt / generate seconds per question."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"Q{i + 1}" for i in range(len(records))]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bottom = [0.0] * len(records)
    for stage in STAGES:
        values = [r.timings.get(stage, 0.0) for r in records]
        ax.bar(labels, values, bottom=bottom, label=stage.removesuffix("_s"))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for x, (height, record) in enumerate(zip(bottom, records, strict=True)):
        label = "abstained" if record.abstained else f"{record.completion_tokens} tok"
        ax.annotate(label, (x, height), ha="center", va="bottom")
    ax.set_ylabel("seconds")
    ax.set_title("heron ask latency by stage (bundled:smollm2, bundled:minilm)")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_home = Path(tempfile.gettempdir()) / "heron-bench-rag"
    parser.add_argument("--home", type=Path, default=default_home, help="store with pydocs")
    parser.add_argument("--limit", type=int, default=None, help="documents, when building")
    parser.add_argument("--threads", type=int, default=2, help="torch and llama.cpp threads")
    parser.add_argument("--max-tokens", type=int, default=160, help="completion tokens cap")
    parser.add_argument("--overhead-prompts", type=int, default=3, help="prompts compared")
    parser.add_argument("--repeats", type=int, default=3, help="calls per stack and prompt")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "heron")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "rag.json")
    return parser.parse_args(argv)


def cold_start(asker: Asker, llm: LlamaCppLLM) -> dict[str, float]:
    """What a fresh process pays before its first answer (each ``heron ask`` is one).

    Loads the embedder and the LLM (timed apart), asks a warm-up question (the
    collection's vector index is built on that first query), then runs one short
    untimed generation so that no timed question pays a first-call cost.
    """
    start = perf_counter()
    if asker.embedder is not None:
        asker.embedder.embed("warm up")
    loaded_embedder = perf_counter()
    llm.count_tokens("warm up")  # loads the GGUF
    loaded_llm = perf_counter()
    first = ask_once(asker, llm, WARMUP_QUESTION)
    llm.generate("Say hello.", GenerateOptions(max_tokens=4))
    return {
        "embedder_load_s": loaded_embedder - start,
        "llm_load_s": loaded_llm - loaded_embedder,
        **{f"first_ask_{k}": v for k, v in first.timings.items()},
    }


def ask_all(asker: Asker, llm: LlamaCppLLM) -> list[AskRecord]:
    """Every question once, in order."""
    records = []
    with progress_bar() as bar:
        task = bar.add_task("heron ask", total=len(QUESTIONS))
        for question in QUESTIONS:
            records.append(ask_once(asker, llm, question))
            bar.advance(task)
    return records


@dataclass
class Results:
    cold: dict[str, float]
    records: list[AskRecord]
    replays: list[Replay]
    streams: list[StreamRun]


def measure(args: argparse.Namespace, store: Store, registry: ModelRegistry) -> Results:
    llm = registry.llm(LLM_SPEC)
    assert isinstance(llm, LlamaCppLLM), "bundled:smollm2 runs on llama.cpp"
    config = AppConfig(collection=COLLECTION, llm=LLM_SPEC, max_tokens=args.max_tokens)
    with tempfile.TemporaryDirectory(prefix="heron-bench-traces-") as traces:
        asker = build_asker(config, store, registry, TraceSink(Path(traces)))
        cold = cold_start(asker, llm)
        records = ask_all(asker, llm)
    replays = [replay(asker, r.question) for r in records if not r.abstained]
    prompts = [r.messages for r in replays[: args.overhead_prompts]]
    streams: list[StreamRun] = []
    if prompts:
        overhead = Overhead(llm, load_raw(llm, args.threads), args.max_tokens)
        streams = run_overhead(overhead, prompts, args.repeats)
    return Results(cold, records, replays, streams)


def report(results: Results) -> dict[str, Any]:
    """Print the tables; return what goes into the JSON besides config and machine."""
    stages = stage_summary(results.records)
    over = overhead_summary(results.streams) if results.streams else {}
    print(render_stages(results.records, stages))
    timings = ", ".join(f"{k} {v:.2f}" for k, v in results.cold.items())
    print(f"\ncold start, seconds (a fresh process; not in the table): {timings}")
    prompt_p50 = percentile([r.prompt_s for r in results.replays], 50)
    lead_p50 = percentile([r.lead_embed_s for r in results.replays], 50)
    print(
        f"prompt_s in a replay without generation, p50: {prompt_p50:.3f}s, of which "
        f"{lead_p50:.3f}s embedding the top passage's sentences for the lead sentence"
    )
    if over:
        print("\n" + render_overhead(over))
    return {
        "cold_start": results.cold,
        "asks": [asdict(r) | {"generate_tokens_per_s": r.generate_tokens_per_s}
                 for r in results.records],
        "stages": stages,
        "replays": [asdict(r) for r in results.replays],
        "overhead": over,
        "streams": [
            asdict(r) | {"e2e_tokens_per_s": r.e2e_tokens_per_s,
                         "decode_tokens_per_s": r.decode_tokens_per_s}
            for r in results.streams
        ],
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    go_offline()
    pin_torch_threads(args.threads)
    registry = ModelRegistry(options={"threads": args.threads})
    store = open_pydocs(args.home, registry, args.limit, args.cache)
    try:
        results = measure(args, store, registry)
        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        collection = store.get_collection(COLLECTION)
        config["collection_count"] = collection.count()
        config["embedder"] = collection.embedder_spec
        config["embedder_engine"] = type(collection.embedder).__name__
    finally:
        store.close()
    payload = {"benchmark": "rag", "config": config, "machine": machine_info(), **report(results)}
    write_json(args.out, payload)
    png = args.out.with_suffix(".png")
    plot_stages(results.records, png)
    print(f"\nsaved {args.out} and {png}")


if __name__ == "__main__":
    main()
