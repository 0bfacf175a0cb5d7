"""Quality of heron.tasks on the shared datasets, with the bundled models.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tasks_quality.py [--quick] [--threads 2] [--only news,…]

Measures, on seeded samples (sizes below; ~10 minutes on 2 busy cores):
  * zero-shot topic accuracy of MiniLM embedding similarity on HuffPost news titles,
    against the majority-class baseline (all topics, and the 10 most frequent);
  * sentiment accuracy: SmolLM2 prompt constrained to the label set (and not
    constrained), and MiniLM zero-shot, on the UCI sentences and the poem verses
    (positive/negative only);
  * parse-failure rate of label output (sentiment; SmolLM2 choosing among 10 news
    topics) and ``extract`` output with and without grammar-constrained decoding,
    and how many first-attempt failures a retry loop (2 retries) recovers;
  * ROUGE-1/2/L (F1, our implementation: lower-cased alphanumeric tokens, no
    stemming) of SmolLM2 summaries on the XSum sample.
Results go to bench/results/tasks_quality.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from heron.errors import ModelError
from heron.models import ModelRegistry
from heron.tasks import Label, TaskModels, extract, sentiment, summarize, zero_shot
from heron.tasks.labels import SENTIMENT_TEMPLATE

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SEED = 13
TOKEN = re.compile(r"[a-z0-9]+")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def sample(rows: Sequence[Any], n: int, seed: int = SEED) -> list[Any]:
    return random.Random(seed).sample(list(rows), min(n, len(rows)))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- zero-shot topics ---------------------------------------------------------------
def news_zero_shot(models: TaskModels, n: int) -> dict[str, Any]:
    rows = read_jsonl(DATA / "news" / "huffpost_news_category_10k.jsonl")
    out: dict[str, Any] = {}
    top10 = [t for t, _ in Counter(r["topic"] for r in rows).most_common(10)]
    for name, pool in (
        ("all_topics", rows),
        ("top10_topics", [r for r in rows if r["topic"] in top10]),
    ):
        picked = sample(pool, n)
        topics = sorted({r["topic"] for r in pool})
        labels = [t.lower() for t in topics]
        truth = [r["topic"].lower() for r in picked]
        majority = Counter(truth).most_common(1)[0]
        row: dict[str, Any] = {
            "n": len(picked), "labels": len(labels),
            "majority_class": majority[0], "majority_accuracy": majority[1] / len(picked),
            "majority_balanced_accuracy": 1 / len(set(truth)),
        }  # fmt: skip
        for template in ("This text is about {}.", "{}", "News about {}."):
            start = time.perf_counter()
            predicted = zero_shot([r["title"] for r in picked], labels, models=models,
                                  template=template)  # fmt: skip
            seconds = time.perf_counter() - start
            assert isinstance(predicted, list)
            labels_out = [p.label for p in predicted]
            row[f"accuracy[{template}]"] = accuracy(
                list(zip(truth, truth, strict=True)), labels_out
            )
            row[f"balanced_accuracy[{template}]"] = balanced_accuracy(truth, labels_out)
            row[f"seconds[{template}]"] = round(seconds, 2)
        out[name] = row
        log(f"zero-shot {name}: {row}")
    return out


def balanced_accuracy(truth: Sequence[str], predicted: Sequence[str | None]) -> float:
    """Mean recall over the classes present (a constant guess scores 1 / classes)."""
    recalls = []
    for label in sorted(set(truth)):
        rows = [p for t, p in zip(truth, predicted, strict=True) if t == label]
        recalls.append(sum(p == label for p in rows) / len(rows))
    return sum(recalls) / len(recalls)


# -- sentiment -------------------------------------------------------------------
def sentiment_sets(n_llm: int) -> dict[str, list[tuple[str, str]]]:
    uci = [
        (r["text"], r["label_name"])
        for r in read_jsonl(DATA / "sentiment" / "uci_sentiment_sentences.jsonl")
    ]
    poem = [
        (r["text"], r["label_name"])
        for r in read_jsonl(DATA / "sentiment" / "poem_sentiment.jsonl")
        if r["label_name"] in ("positive", "negative")
    ]
    return {
        "uci": uci,
        "poem_pos_neg": poem,
        "uci_llm": sample(uci, n_llm),
        "poem_llm": sample(poem, n_llm // 2),
    }


def accuracy(pairs: Sequence[tuple[str, str]], labels: Sequence[str | None]) -> float:
    return sum(p == gold for (_, gold), p in zip(pairs, labels, strict=True)) / len(pairs)


def llm_labels(
    pairs: Sequence[tuple[str, str]], models: TaskModels, constrain: bool
) -> tuple[list[str | None], int, int]:
    """Labels (None = unparsable), first-attempt failures, failures a retry loop recovered."""
    labels: list[str | None] = []
    failures = recovered = 0
    for text, _ in pairs:
        try:
            result = sentiment(text, models=models, constrain=constrain, retries=0)
            assert isinstance(result, Label)
            labels.append(result.label)
        except ModelError:
            failures += 1
            try:
                retried = sentiment(text, models=models, constrain=False, retries=2)
                assert isinstance(retried, Label)
                labels.append(retried.label)
                recovered += 1
            except ModelError:
                labels.append(None)
    return labels, failures, recovered


def sentiment_bench(models: TaskModels, n_llm: int) -> dict[str, Any]:
    sets = sentiment_sets(n_llm)
    out: dict[str, Any] = {}
    for name in ("uci", "poem_pos_neg"):
        pairs = sets[name]
        start = time.perf_counter()
        predicted = sentiment([t for t, _ in pairs], model="bundled:minilm", models=models)
        assert isinstance(predicted, list)
        out[f"minilm_zero_shot[{name}]"] = {
            "n": len(pairs), "accuracy": accuracy(pairs, [p.label for p in predicted]),
            "majority_accuracy": Counter(g for _, g in pairs).most_common(1)[0][1] / len(pairs),
            "seconds": round(time.perf_counter() - start, 2), "template": SENTIMENT_TEMPLATE,
        }  # fmt: skip
        log(f"sentiment minilm {name}: {out[f'minilm_zero_shot[{name}]']}")
    for name, constrain in (("uci_llm", True), ("uci_llm", False), ("poem_llm", True)):
        pairs = sets[name]
        start = time.perf_counter()
        labels, failures, recovered = llm_labels(pairs, models, constrain)
        key = f"smollm2[{name},{'constrained' if constrain else 'unconstrained'}]"
        out[key] = {
            "n": len(pairs), "accuracy": accuracy(pairs, labels),
            "parse_failures_first_attempt": failures, "parse_failure_rate": failures / len(pairs),
            "recovered_by_retries": recovered,
            "predicted": dict(Counter(str(x) for x in labels)),
            "seconds_per_text": round((time.perf_counter() - start) / len(pairs), 2),
        }  # fmt: skip
        log(f"sentiment {key}: {out[key]}")
    return out


def label_order(models: TaskModels, n_llm: int) -> dict[str, Any]:
    """SmolLM2 sentiment (constrained) with the labels listed positive-first vs negative-first."""
    pairs = sentiment_sets(n_llm)["uci_llm"]
    out: dict[str, Any] = {}
    for labels in (("positive", "negative"), ("negative", "positive")):
        predicted = sentiment([t for t, _ in pairs], labels=labels, models=models)
        assert isinstance(predicted, list)
        names = [p.label for p in predicted]
        out[", ".join(labels)] = {
            "n": len(pairs), "accuracy": accuracy(pairs, names),
            "predicted": dict(Counter(names)),
        }  # fmt: skip
        log(f"label order {labels}: {out[', '.join(labels)]}")
    return out


def defenses_cost(models: TaskModels, n_llm: int) -> dict[str, Any]:
    """SmolLM2 sentiment (constrained): the task prompt's defenses vs heron.prompts' ones."""
    from heron.prompts import Defenses
    from heron.tasks.engines import LLMEngine
    from heron.tasks.options import TaskOptions
    from heron.tasks.prompting import TASK_DEFENSES, render
    from heron.tasks.structured import generate_label

    pairs = sentiment_sets(n_llm)["uci_llm"]
    labels = ["negative", "positive"]
    engine = LLMEngine(models.registry.llm("bundled:smollm2"))
    out: dict[str, Any] = {}
    for name, defenses in (("task (no quotes)", TASK_DEFENSES), ("Defenses()", Defenses()),
                           ("Defenses.strict()", Defenses.strict())):  # fmt: skip
        predicted = []
        for text, _ in pairs:
            prompt = render(
                "Classify the sentiment of the text.", text, defenses=defenses,
                output_format="Reply with exactly one label from: negative, positive.",
                output_label="Label",
            )  # fmt: skip
            predicted.append(generate_label(engine, prompt.messages, labels, TaskOptions()).value)
        out[name] = {"n": len(pairs), "accuracy": accuracy(pairs, predicted),
                     "predicted": dict(Counter(predicted))}  # fmt: skip
        log(f"defenses {name}: {out[name]}")
    return out


def news_llm_labels(models: TaskModels, n: int) -> dict[str, Any]:
    """SmolLM2 choosing among the 10 most frequent news topics: constrained vs not."""
    rows = read_jsonl(DATA / "news" / "huffpost_news_category_10k.jsonl")
    top10 = [t for t, _ in Counter(r["topic"] for r in rows).most_common(10)]
    labels = [t.lower() for t in top10]
    picked = sample([r for r in rows if r["topic"] in top10], n)
    out: dict[str, Any] = {}
    for constrain in (True, False):
        failures = recovered = correct = 0
        start = time.perf_counter()
        for row in picked:
            label = _llm_topic(row["title"], labels, models, constrain, 0)
            if label is None:
                failures += 1
                label = _llm_topic(row["title"], labels, models, False, 2)
                recovered += label is not None
            correct += label == row["topic"].lower()
        key = "constrained" if constrain else "unconstrained"
        out[key] = {
            "n": len(picked), "labels": len(labels), "accuracy": correct / len(picked),
            "parse_failures_first_attempt": failures, "parse_failure_rate": failures / len(picked),
            "recovered_by_retries": recovered,
            "seconds_per_text": round((time.perf_counter() - start) / len(picked), 2),
        }  # fmt: skip
        log(f"news topics smollm2 {key}: {out[key]}")
    return out


def _llm_topic(
    title: str, labels: list[str], models: TaskModels, constrain: bool, retries: int
) -> str | None:
    try:
        result = zero_shot(title, labels, model="bundled:smollm2", models=models,
                           constrain=constrain, retries=retries)  # fmt: skip
    except ModelError:
        return None
    assert isinstance(result, Label)
    return result.label


# -- extract -----------------------------------------------------------------------
EXTRACT_SCHEMA = {
    "type": "object",
    "properties": {
        "job_title": {"type": "string"},
        "salary": {"type": "integer"},
        "currency": {"type": "string"},
        "year": {"type": "integer"},
    },
    "required": ["job_title", "salary", "currency", "year"],
}


def salary_texts(n: int) -> list[tuple[str, dict[str, Any]]]:
    with (DATA / "tables" / "ds_salaries.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for r in sample(rows, n):
        text = (f"In {r['work_year']}, a {r['job_title']} at a company in {r['company_location']} "
                f"was paid {r['salary']} {r['salary_currency']} a year.")  # fmt: skip
        gold = {"job_title": r["job_title"], "salary": int(r["salary"]),
                "currency": r["salary_currency"], "year": int(r["work_year"])}  # fmt: skip
        out.append((text, gold))
    return out


def extract_bench(models: TaskModels, n: int) -> dict[str, Any]:
    items = salary_texts(n)
    out: dict[str, Any] = {}
    for constrain in (True, False):
        failures = recovered = 0
        correct = Counter[str]()
        start = time.perf_counter()
        for text, gold in items:
            try:
                data = _extract(text, models, constrain, 0)
            except ModelError:
                failures += 1
                try:
                    data = _extract(text, models, False, 2)
                    recovered += 1
                except ModelError:
                    continue
            for key, value in gold.items():
                correct[key] += str(data.get(key)).strip().lower() == str(value).lower()
        key = "constrained" if constrain else "unconstrained"
        out[key] = {
            "n": len(items), "parse_failures_first_attempt": failures,
            "parse_failure_rate": failures / len(items), "recovered_by_retries": recovered,
            "field_accuracy": {k: v / len(items) for k, v in sorted(correct.items())},
            "seconds_per_text": round((time.perf_counter() - start) / len(items), 2),
        }  # fmt: skip
        log(f"extract {key}: {out[key]}")
    return out


def _extract(text: str, models: TaskModels, constrain: bool, retries: int) -> dict[str, Any]:
    result = extract(text, schema=EXTRACT_SCHEMA, models=models, constrain=constrain,
                     retries=retries)  # fmt: skip
    assert not isinstance(result, list)
    return dict(result.data)


# -- ROUGE -------------------------------------------------------------------------
def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def _f1(overlap: int, predicted: int, reference: int) -> float:
    if not overlap:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


def ngrams(words: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def rouge_n(prediction: list[str], reference: list[str], n: int) -> float:
    p, r = ngrams(prediction, n), ngrams(reference, n)
    return _f1(sum((p & r).values()), sum(p.values()), sum(r.values()))


def rouge_l(prediction: list[str], reference: list[str]) -> float:
    previous = [0] * (len(reference) + 1)
    for word in prediction:
        current = [0]
        for j, ref_word in enumerate(reference):
            current.append(
                previous[j] + 1 if word == ref_word else max(previous[j + 1], current[j])
            )
        previous = current
    return _f1(previous[-1], len(prediction), len(reference))


def rouge_bench(models: TaskModels, n: int) -> dict[str, Any]:
    rows = sample(read_jsonl(DATA / "summarization" / "xsum_test_500.jsonl"), n)
    scores: dict[str, list[float]] = {"rouge1": [], "rouge2": [], "rougeL": []}
    lead: dict[str, list[float]] = {"rouge1": [], "rouge2": [], "rougeL": []}
    truncated = 0
    start = time.perf_counter()
    examples = []
    for row in rows:
        result = summarize(row["document"], models=models, options={"max_new_tokens": 60})
        assert not isinstance(result, list)
        truncated += result.truncated
        for table, text in ((scores, result.text), (lead, _first_sentence(row["document"]))):
            pred, ref = tokens(text), tokens(row["summary"])
            table["rouge1"].append(rouge_n(pred, ref, 1))
            table["rouge2"].append(rouge_n(pred, ref, 2))
            table["rougeL"].append(rouge_l(pred, ref))
        if len(examples) < 3:
            examples.append({"reference": row["summary"], "summary": result.text})
    out = {
        "n": len(rows), "smollm2": {k: sum(v) / len(v) for k, v in scores.items()},
        "lead_1_baseline": {k: sum(v) / len(v) for k, v in lead.items()},
        "truncated": truncated,
        "seconds_per_text": round((time.perf_counter() - start) / len(rows), 2),
        "examples": examples,
    }  # fmt: skip
    log(f"rouge: {out}")
    return out


def _first_sentence(document: str) -> str:
    return document.strip().split("\n")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny samples, to check it runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma list: news,sentiment,extract,rouge")
    args = parser.parse_args()
    sizes = {"news": 1000, "llm": 40, "news_llm": 20, "extract": 10, "rouge": 30}
    if args.quick:
        sizes = {"news": 50, "llm": 4, "news_llm": 2, "extract": 2, "rouge": 2}
    models = TaskModels(ModelRegistry(options={"threads": args.threads}))
    everything = {"news", "sentiment", "label_order", "defenses", "news_llm", "extract", "rouge"}
    wanted = set(filter(None, args.only.split(","))) or everything
    results: dict[str, Any] = {"seed": SEED, "sizes": sizes, "threads": args.threads,
                               "cpus": os.cpu_count()}  # fmt: skip
    start = time.perf_counter()
    if "news" in wanted:
        results["news_zero_shot"] = news_zero_shot(models, sizes["news"])
    if "sentiment" in wanted:
        results["sentiment"] = sentiment_bench(models, sizes["llm"])
    if "label_order" in wanted:
        results["sentiment_label_order"] = label_order(models, sizes["llm"])
    if "defenses" in wanted:
        results["sentiment_prompt_defenses"] = defenses_cost(models, sizes["llm"])
    if "news_llm" in wanted:
        results["news_topics_smollm2"] = news_llm_labels(models, sizes["news_llm"])
    if "extract" in wanted:
        results["extract"] = extract_bench(models, sizes["extract"])
    if "rouge" in wanted:
        results["xsum_rouge"] = rouge_bench(models, sizes["rouge"])
    results["total_seconds"] = round(time.perf_counter() - start, 1)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("tasks_quality_quick.json" if args.quick else "tasks_quality.json")
    if args.only and path.exists():  # a partial run updates the sections it ran
        previous = json.loads(path.read_text(encoding="utf-8"))
        results = {**previous, **results, "sizes": {**previous.get("sizes", {}), **sizes}}
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
