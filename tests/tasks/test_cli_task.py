"""``heron task`` end to end, in-process, on fake models: inputs, outputs, errors."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from heron.cli.main import main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def heron(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--home", str(tmp_path / "home"), "task", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_text_argument_plain_and_jsonl(heron: Run) -> None:
    code, out, _ = heron("sentiment", "I loved it", "--model", "fake:positive")
    assert (code, out) == (0, "positive\n")
    code, out, _ = heron("zero-shot", "football goal", "--labels", "football,politics",
                         "--model", "hash:64", "--template", "{}", "--jsonl")  # fmt: skip
    assert code == 0
    row = json.loads(out)
    assert row["label"] == "football" and set(row["scores"]) == {"football", "politics"}


def test_stdin(heron: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long text\n"))
    code, out, _ = heron("summarize", "-", "--model", "fake:short")
    assert (code, out) == (0, "short\n")


def test_jsonl_file_with_progress(heron: Run, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps({"review": f"text {i}"}) for i in range(5)) + "\n")
    code, out, _ = heron("classify", "--input", str(path), "--field", "review", "--labels",
                         "a,b", "--model", "fake:b", "--jsonl", "--batch-size", "2")  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["row"] for r in rows] == [0, 1, 2, 3, 4] and {r["label"] for r in rows} == {"b"}


def test_csv_file_and_question_field(heron: Run, tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text("context,q\nParis is in France,Where is Paris?\nRome is in Italy,Where?\n")
    code, out, _ = heron("answer", "--input", str(path), "--field", "context",
                         "--question-field", "q", "--model", "fake:France")  # fmt: skip
    assert (code, out) == (0, "France\nFrance\n")


def test_translate_few_shot_extract_generate(heron: Run, tmp_path: Path) -> None:
    assert heron("translate", "hi", "--source", "en", "--target", "de", "--model",
                 "fake:hallo")[:2] == (0, "hallo\n")  # fmt: skip
    examples = tmp_path / "ex.jsonl"
    examples.write_text('{"input": "great", "output": "positive"}\n')
    code, out, _ = heron("few-shot", "bad", "--examples", str(examples), "--model",
                         "fake:negative_###_more")  # fmt: skip
    assert (code, out) == (0, "negative\n")
    code, out, _ = heron("extract", "Ann, Oslo", "--fields", "name,city", "--model",
                         'fake:{"name":"Ann","city":"Oslo"}')  # fmt: skip
    assert code == 0 and json.loads(out) == {"name": "Ann", "city": "Oslo"}
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object", "properties": {"city": {"type": "string"}}}')
    code, out, _ = heron("extract", "Oslo", "--schema", str(schema), "--model",
                         'fake:{"city":"Oslo"}')  # fmt: skip
    assert code == 0 and json.loads(out) == {"city": "Oslo"}
    code, out, _ = heron("generate", "Once", "--model", "fake:upon_a_time", "--sample",
                         "--temperature", "0.8", "--top-k", "5", "--seed", "3")  # fmt: skip
    assert (code, out) == (0, "upon a time\n")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("sentiment", "  ", "--model", "fake:x"), 2, "input text is empty"),
        (("sentiment", "--model", "fake:x"), 2, "give the input text"),
        (("poetry", "x"), 2, "unknown task 'poetry'"),
        (("zero-shot", "x", "--model", "hash:8"), 2, "labels list is empty"),
        (("zero-shot", "x", "--labels", "a,A", "--model", "hash:8"), 2, "duplicate label"),
        (("translate", "x", "--target", "xx", "--model", "fake:x"), 2, "unknown language code"),
        (("summarize", "x", "--model", "hash:8"), 2, "cannot run the summarize task"),
        (("answer", "x", "--model", "fake:x"), 2, "needs --question"),
        (("few-shot", "x", "--model", "fake:x"), 2, "needs --examples"),
        (("generate", "x", "--model", "fake:x", "--num-beams", "2"), 2, "no beam search"),
        (
            (
                "generate",
                "x",
                "--model",
                "fake:x",
                "--min-new-tokens",
                "5",
                "--max-new-tokens",
                "2",
            ),
            2,
            "greater than",
        ),  # fmt: skip
        (("generate", "x", "--model", "fake:x", "--top-p", "0"), 2, "top_p"),
        (("classify", "x", "--labels", "a,b", "--model", "fake:c"), 3, "did not reply"),
    ],
)
def test_errors_are_one_line_with_an_exit_code(
    heron: Run, args: tuple[str, ...], code: int, message: str
) -> None:
    got, out, err = heron(*args)
    assert got == code and message in err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_file_errors(heron: Run, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"body": "x"}\n')
    code, _, err = heron("sentiment", "--input", str(path), "--model", "fake:x")
    assert code == 2 and "has no field 'text'" in err and "body" in err
    bad = tmp_path / "ex.jsonl"
    bad.write_text('{"input": "a"}\n')
    code, _, err = heron("few-shot", "x", "--examples", str(bad), "--model", "fake:x")
    assert code == 2 and "missing output" in err
    code, _, err = heron("sentiment", "--input", str(tmp_path / "in.txt"), "--model", "fake:x")
    assert code == 2 and ".jsonl or .csv" in err


def test_hf_model_from_a_file_in_batches(heron: Run, tmp_path: Path, tiny: dict[str, str]) -> None:
    path = tmp_path / "in.csv"
    path.write_text("text\nthe cat sat\nhello world\nstock markets fell\n")
    code, out, _ = heron("sentiment", "--input", str(path), "--model", tiny["sentiment"],
                         "--jsonl", "--batch-size", "2")  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["row"] for r in rows] == [0, 1, 2]
    assert all(r["label"] in ("positive", "negative") and r["score"] > 0 for r in rows)
    code, out, _ = heron("translate", "hello world", "--model", tiny["marian"], "--target", "fr",
                         "--max-new-tokens", "3", "--num-beams", "2")  # fmt: skip
    assert code == 0 and out.strip()


def test_long_text_flags(heron: Run, tiny: dict[str, str]) -> None:
    passage = "the cat sat on the mat. " * 20 + "rome is the capital of italy."
    code, out, _ = heron("answer", passage, "--question", "what is the capital of italy?",
                         "--model", tiny["qa_rome"], "--jsonl")  # fmt: skip
    row = json.loads(out)
    assert code == 0 and row["text"] == "rome" and row["chunks"] > 1  # chunk is the default
    assert passage[row["start"] : row["end"]] == "rome" and row["truncated"] is False
    code, out, _ = heron("answer", passage, "-q", "capital?", "--model", tiny["qa_rome"],
                         "--long-text", "truncate", "--jsonl")  # fmt: skip
    assert code == 0 and json.loads(out)["truncated"] is True
    code, _, err = heron("answer", passage, "-q", "capital?", "--model", tiny["qa_rome"],
                         "--max-chunks", "2")  # fmt: skip
    assert code == 2 and "max_chunks=2" in err and err.count("\n") == 1
    code, _, err = heron("answer", passage, "-q", "capital?", "--model", tiny["qa"],
                         "--long-text", "all")  # fmt: skip
    assert code == 2 and "--long-text must be truncate or chunk" in err
    long_text = "the cat sat on the mat and the dog sat on the log. " * 60
    code, out, _ = heron("summarize", long_text, "--model", tiny["t5"], "--max-length", "3",
                         "--jsonl")  # fmt: skip
    assert code == 0 and json.loads(out)["truncated"] is True  # truncate is the default
    code, out, _ = heron("summarize", long_text, "--model", tiny["t5"], "--max-length", "3",
                         "--long-text", "chunk", "--jsonl")  # fmt: skip
    row = json.loads(out)
    assert code == 0 and row["truncated"] is False and row["chunks"] > 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("answer", "Paris is in France.", "--question", " ", "--model", "fake:x"), "is empty"),
        (("answer", " ", "--question", "Where?", "--model", "fake:x"), "input text is empty"),
        (("summarize", "x", "--chunk", "--long-text", "truncate", "--model", "fake:x"),
         "contradicts"),
    ],
)  # fmt: skip
def test_answer_bad_input(heron: Run, args: tuple[str, ...], message: str) -> None:
    code, _, err = heron(*args)
    assert code == 2 and message in err and "Traceback" not in err
