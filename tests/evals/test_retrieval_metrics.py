import math
from pathlib import Path

import pytest

from heron.errors import InputError
from heron.evals.retrieval import RetrievalQuery, evaluate_retrieval, load_queries, score_ranking
from heron.types import Hit


def hits(*modules: str) -> list[Hit]:
    return [Hit(f"{m}:{i}", 1.0, "", {"module": m}) for i, m in enumerate(modules)]


def test_first_rank_hit() -> None:
    r = score_ranking(hits("shlex", "os"), RetrievalQuery("q", {"module": ["shlex"]}), 5)
    assert (r.recall, r.reciprocal_rank, r.ndcg) == (1.0, 1.0, 1.0)


def test_duplicates_of_a_value_count_once() -> None:
    q = RetrievalQuery("q", {"module": ["a", "b"]})
    assert score_ranking(hits("x", "y", "b"), q, 3).recall == 1.0  # alternatives: any one
    r = score_ranking(hits("x", "a", "a", "b"), q, 4)
    assert r.recall == 1.0
    assert r.reciprocal_rank == 0.5
    ideal = 1 + 1 / math.log2(3)
    assert r.ndcg == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)


def test_miss_and_cutoff() -> None:
    q = RetrievalQuery("q", {"module": ["a"]})
    assert score_ranking(hits("x", "y", "a"), q, 2).recall == 0.0
    report = evaluate_retrieval(lambda _: hits("a"), [q, q], 1)
    assert report.to_dict() == {"k": 1, "recall@1": 1.0, "mrr": 1.0, "ndcg@1": 1.0, "queries": 2}


def test_query_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"query": "a", "relevant": {"module": ["x"]}}\n{"query": "b"}\n')
    with pytest.raises(InputError, match=r"q.jsonl:2"):
        load_queries(path)
    path.write_text("not json\n")
    with pytest.raises(InputError, match="not valid JSON"):
        load_queries(path)
    path.write_text("")
    with pytest.raises(InputError, match="no queries"):
        load_queries(path)


def test_bundled_question_sets_parse() -> None:
    folder = Path(__file__).parents[2] / "src/heron/evals/data"
    assert len(load_queries(folder / "stdlib_dev.jsonl")) == 40
    assert len(load_queries(folder / "stdlib_test.jsonl")) == 30
