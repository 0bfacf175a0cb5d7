"""The CLI end to end, in-process, on the hash embedder and the fake LLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heron.cli.main import main

Run = tuple[int, str, str]


@pytest.fixture
def heron(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"

    def run(*args: str) -> Run:
        code = main(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "shell.md").write_text(
        "# Shell\n\n## Splitting\n\nUse shlex.split to split a shell command line with quotes.\n"
    )
    (folder / "json.txt").write_text("json.dumps turns a Python object into JSON text.\n")
    (folder / "notes.rst").write_text("Timers\n======\n\nsched runs a function at a later time.\n")
    return folder


def ingest(heron, docs: Path, *extra: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    code, out, err = heron(
        "ingest", str(docs), "-c", "kb", "--embedder", "hash:128", "--json", *extra
    )
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_ingest_search_ask_roundtrip(heron, docs: Path) -> None:  # type: ignore[no-untyped-def]
    report = ingest(heron, docs)
    assert report["added"] == 3 and report["chunks"] >= 3
    code, out, _ = heron("search", "split a shell command line", "-c", "kb", "--k", "2", "--json")
    assert code == 0
    hits = json.loads(out)
    assert len(hits) == 2
    assert set(hits[0]) == {"id", "score", "text", "metadata", "distance"}
    assert "shlex" in hits[0]["text"]
    code, out, _ = heron(
        "ask", "how to split a shell line?", "-c", "kb", "--llm", "fake:shlex.split", "--json"
    )
    assert code == 0
    answer = json.loads(out)
    assert answer["citations"] and answer["request_id"]
    code, out, _ = heron(
        "ask", "how to split a shell line?", "-c", "kb", "--llm", "fake:shlex.split"
    )
    assert code == 0 and "Sources" in out and "[1]" in out


def test_reingest_skips_unchanged_replaces_changed_prunes_deleted(heron, docs: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(heron, docs)
    again = ingest(heron, docs)
    assert (again["added"], again["replaced"], again["unchanged"]) == (0, 0, 3)
    (docs / "json.txt").write_text("json.loads parses JSON text into Python objects.\n")
    (docs / "notes.rst").unlink()
    third = ingest(heron, docs)
    assert (third["replaced"], third["unchanged"], third["removed"]) == (1, 1, 1)
    code, out, _ = heron("search", "parses JSON", "-c", "kb", "--json")
    texts = [h["text"] for h in json.loads(out)]
    assert any("json.loads" in t for t in texts)
    assert not any("json.dumps" in t for t in texts)
    assert not any("sched" in t for t in texts)


def test_collections_commands(heron, docs: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(heron, docs)
    code, out, _ = heron("collections", "list", "--json")
    assert code == 0 and json.loads(out)[0]["name"] == "kb"
    code, out, _ = heron("collections", "info", "kb", "--json")
    assert json.loads(out)["embedder"] == "hash:128"
    assert heron("collections", "delete", "kb", "--yes")[0] == 0
    assert json.loads(heron("collections", "list", "--json")[1]) == []


def test_eval_retrieval_json(heron, docs: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(heron, docs)
    queries = tmp_path / "q.jsonl"
    src = str((docs / "shell.md").resolve())
    queries.write_text(
        json.dumps({"query": "split shell command", "relevant": {"source": [src]}}) + "\n"
    )
    code, out, err = heron(
        "eval", "retrieval", "-c", "kb", "--queries", str(queries), "--k", "3", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"k", "recall@3", "mrr", "ndcg@3", "queries"}
    assert result["recall@3"] == 1.0 and result["queries"] == 1


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("search", "x", "-c", "missing"), "collection 'missing' not found", 4),
        (("search", "  ", "-c", "kb"), "query is empty", 2),
        (("search", "x", "-c", "kb", "--where", "{bad"), "--where is not valid JSON", 2),
        (("search", "x", "-c", "kb", "--where", '{"a": {"$regex": "x"}}'), "$regex", 2),
        (("ask", "x", "-c", "kb", "--llm", "nope:x"), "unknown llm scheme 'nope'", 2),
        (("ask", "x", "-c", "kb", "--llm", "fake:x", "--embedder", "hash:32"), "128", 4),
        (("search", "x", "-c", "kb", "--embedder", "nope"), "scheme:target", 2),
        (("ingest", "/definitely/not/here", "-c", "kb"), "does not exist", 5),
        (("ingest", "-c", "kb"), "give either PATH", 2),
    ],
)
def test_errors_are_one_line_with_exit_code(heron, docs: Path, args, message, code) -> None:  # type: ignore[no-untyped-def]
    ingest(heron, docs)
    got, out, err = heron(*args)
    assert got == code, err
    assert message in err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_dimension_mismatch_is_refused_without_writes(heron, docs: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(heron, docs)
    code, _, err = heron("ingest", str(docs), "-c", "kb", "--embedder", "hash:64")
    assert code == 2 and "built with embedder hash:128" in err


def test_binary_file_is_skipped_in_folder_and_refused_alone(heron, docs: Path) -> None:  # type: ignore[no-untyped-def]
    (docs / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    report = ingest(heron, docs)
    assert any("blob.txt" in s["source"] for s in report["skipped"])
    code, _, err = heron("ingest", str(docs / "blob.txt"), "-c", "kb")
    assert code == 5 and "blob.txt" in err


def test_jsonl_and_csv_rows_ingest_and_keep_their_row_origin(heron, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "rows"
    folder.mkdir()
    (folder / "faq.jsonl").write_text(
        json.dumps({"text": "Reset a password from the login page.", "topic": "account"})
        + "\n"
        + json.dumps({"text": "Invoices are emailed monthly.", "topic": "billing"})
        + "\n"
    )
    (folder / "items.CSV").write_text("text,kind\nA red bicycle with gears.,toy\n")
    report = ingest(heron, folder)
    assert report["added"] == 2 and report["chunks"] == 3
    code, out, _ = heron(
        "search", "invoices", "-c", "kb", "--json", "--where", '{"topic": "billing"}'
    )
    hit = json.loads(out)[0]
    assert hit["metadata"]["source"] == str(folder / "faq.jsonl")
    assert hit["metadata"]["origin"].endswith("faq.jsonl#2")
    again = ingest(heron, folder)
    assert again["unchanged"] == 2


def test_rechunking_with_other_settings_and_emptied_files(heron, docs: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(heron, docs)
    resized = ingest(heron, docs, "--chunk-size", "32", "--overlap", "8")
    assert resized["replaced"] == 3 and resized["unchanged"] == 0
    (docs / "json.txt").write_text("   \n")
    emptied = ingest(heron, docs, "--chunk-size", "32", "--overlap", "8")
    assert emptied["removed"] == 1
    code, out, _ = heron("search", "json.dumps", "-c", "kb", "--json")
    assert not any("json.dumps" in h["text"] for h in json.loads(out))


def test_a_100_mb_file_is_refused_before_reading(heron, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big" / "huge.txt"
    big.parent.mkdir()
    with big.open("wb") as handle:
        handle.truncate(100_000_000)  # sparse: costs no disk and no time
    code, _, err = heron("ingest", str(big), "-c", "kb", "--embedder", "hash:16")
    assert code == 5
    assert json.loads(heron("collections", "list", "--json")[1]) == []  # nothing created
    assert "100.0 MB, over the 20.0 MB limit" in err and "--max-file-mb 100" in err
    (big.parent / "ok.txt").write_text("a small readable file")
    report = ingest(heron, big.parent)
    assert report["added"] == 1 and "huge.txt" in report["skipped"][0]["source"]
    assert json.loads(heron("collections", "info", "kb", "--json")[1])["count"] == 1


def test_demo_builds_once_then_answers_from_the_current_collection(  # type: ignore[no-untyped-def]
    heron, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's whole flow on the real stdlib corpus, with the hash embedder and a fake LLM."""
    monkeypatch.setenv("HERON_EMBEDDER", "hash:64")
    code, out, err = heron("demo", "--llm", "fake:see_the_cited_passage")
    assert code == 0, err
    assert out.count("Q: ") == 3 and out.count("Sources") >= 1
    assert "see the cited passage" in out
    assert "0 current" in out
    code, out, err = heron("demo", "--llm", "fake:ok")
    assert code == 0, err
    assert "(0 sources embedded" in out


def test_setting_k_is_the_default_hit_count(
    heron, docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    ingest(heron, docs)
    monkeypatch.setenv("HERON_K", "2")
    assert len(json.loads(heron("search", "text", "-c", "kb", "--json")[1])) == 2
    assert len(json.loads(heron("search", "text", "-c", "kb", "--json", "--k", "1")[1])) == 1


@pytest.mark.parametrize(
    "args",
    [("search", "x", "--k", "0"), ("search",), ("nope",), ("ingest", "--chunk-size", "abc")],
)
def test_usage_errors_are_short_messages_not_tracebacks(heron, args) -> None:  # type: ignore[no-untyped-def]
    code, _, err = heron(*args)
    assert code == 2
    assert "Traceback" not in err and err.strip()


def test_help_exits_zero(heron) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = heron("ask", "--help")
    assert code == 0 and "--collection" in out


def test_index_compact_and_explain_commands(heron, docs: Path) -> None:  # type: ignore[no-untyped-def]
    ingest(heron, docs)
    code, out, err = heron("collections", "index", "kb", "--type", "hnsw", "--m", "16")
    assert code == 0, err
    assert "hnsw (m=16" in out and "built: hnsw" in out
    code, out, _ = heron("collections", "info", "kb", "--json")
    assert json.loads(out)["index"].startswith("hnsw (m=16")
    code, out, _ = heron("search", "shell", "-c", "kb", "--explain", "--json", "--ef-search", "99")
    plan = json.loads(out)
    assert code == 0 and plan["strategy"] == "ann" and plan["ef_search"] == 99
    code, out, _ = heron(
        "search", "shell", "-c", "kb", "--explain", "--where", '{"source": "nowhere"}'
    )
    assert code == 0 and "empty" in out
    code, out, _ = heron("collections", "compact", "kb", "--json")
    assert code == 0 and json.loads(out)["kind"] == "hnsw"
    code, out, err = heron("collections", "index", "kb", "--type", "annoy")
    assert code == 2 and "kinds: auto, flat" in err and "Traceback" not in err
    code, out, err = heron("collections", "index", "kb", "--type", "ivf_pq", "--pq-m", "7")
    assert code == 2 and "divide" in err
