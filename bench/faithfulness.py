"""Faithfulness of RAG answers with each bundled LLM, on our own stdlib questions.

For every question the retrieved passages are fixed (same collection, same k), so
only the model differs. Per model it reports how often the model's own text:

* names what the cited passages show (a cited module or object name appears in it),
* names code the passages never mention (Heron then withholds the model's wording),
* abstains although the passages answer the question.

Heron's final answer always leads with the cited passage's title and sentence, so a
reader is never left with only the model's words. Run (after building pydocs):

    .venv/bin/python bench/faithfulness.py --home .heron --n 12
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from heron.models.registry import ModelRegistry
from heron.rag.answer import ABSTAIN_TEXT
from heron.rag.app import AppConfig, build_asker
from heron.rag.grounding import ungrounded_terms
from heron.store import open_store
from heron.types import Answer

DATA = Path(__file__).resolve().parents[1] / "src" / "heron" / "evals" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


def names_cited(answer: Answer) -> bool:
    text = (answer.model_text or "").lower()
    names = set()
    for cite in answer.citations:
        title = (cite.title or "").lower()
        names.update({title, title.rsplit(".", 1)[-1], title.split(".", 1)[0]})
    return any(name and name in text for name in names)


def judge(answer: Answer) -> dict[str, Any]:
    model = answer.model_text or ""
    passages = [c.snippet for c in answer.citations]
    return {
        "names_cited": names_cited(answer),
        "ungrounded": bool(ungrounded_terms(model, passages)) and "withheld" in answer.text,
        "wrong_abstain": model.startswith(ABSTAIN_TEXT.rstrip(".")),
        "model_text_shown": bool(model) and model in answer.text,
        "generate_s": answer.timings.get("generate_s", 0.0),
    }


def run_model(home: str, llm: str, questions: list[str], max_tokens: int) -> dict[str, Any]:
    registry = ModelRegistry()
    rows = []
    with open_store(home, registry=registry) as store:
        asker = build_asker(
            AppConfig(collection="pydocs", llm=llm, max_tokens=max_tokens), store, registry
        )
        for question in questions:
            answer = asker.ask(question)
            rows.append({"question": question, "model_text": answer.model_text, **judge(answer)})
    n = len(rows)
    summary = {
        key: sum(bool(r[key]) for r in rows) / n
        for key in ("names_cited", "ungrounded", "wrong_abstain", "model_text_shown")
    }
    summary["generate_s_mean"] = sum(r["generate_s"] for r in rows) / n
    return {"llm": llm, "n": n, "summary": summary, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description="RAG faithfulness per bundled LLM")
    parser.add_argument("--home", default=".heron")
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--llms", default="bundled:smollm2,bundled:gemma3-270m")
    args = parser.parse_args()
    lines = (DATA / "stdlib_dev.jsonl").read_text().splitlines()[: args.n]
    questions = [json.loads(line)["query"] for line in lines]
    results = [
        run_model(args.home, llm, questions, args.max_tokens) for llm in args.llms.split(",")
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "faithfulness.json").write_text(json.dumps(results, indent=2))
    print(
        "| model | names cited module/function | names unsupported code (withheld) "
        "| wrongly abstains | model text shown | generate s |"
    )
    print("|---|---|---|---|---|---|")
    for result in results:
        s = result["summary"]
        print(
            f"| {result['llm']} | {s['names_cited']:.0%} | {s['ungrounded']:.0%} | "
            f"{s['wrong_abstain']:.0%} | {s['model_text_shown']:.0%} | {s['generate_s_mean']:.1f} |"
        )


if __name__ == "__main__":
    main()
