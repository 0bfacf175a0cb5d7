"""``heron chain run``, ``heron agent``, ``heron trace``, ``heron ask --chain-type`` in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heron.cli.main import main

Run = tuple[int, str, str]

CHAIN = """
name = "judge"
inputs = ["text"]
llm = "fake:positive"

[[steps]]
name = "summary"
type = "prompt"
template = "Summarize: {text}"
llm = "fake:a_short_summary"
output = "summary"
max_tokens = 40

[[steps]]
name = "mood"
type = "label"
template = "Positive or negative? {summary}"
labels = ["positive", "negative"]
output = "mood"

[[steps]]
name = "reply"
type = "router"
on = "mood"

[steps.branches.positive]
name = "thanks"
type = "transform"
function = "string:capwords"
inputs = ["summary"]
output = "reply"

[steps.branches.negative]
name = "sorry"
type = "prompt"
template = "Apologise for {summary}"
output = "reply"
"""


@pytest.fixture
def heron(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"

    def run(*args: str) -> Run:
        code = main(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_chain_run_from_toml_then_trace_list_and_show(heron, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "judge.toml"
    path.write_text(CHAIN)
    code, out, err = heron("chain", "run", str(path), "--input", "text=I love it", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["outputs"] == {
        "summary": "a short summary",
        "mood": "positive",
        "reply": "A Short Summary",
        "reply_route": "positive",
    }
    code, out, _ = heron("trace", "list", "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert row["id"] == result["run_id"] and row["kind"] == "chain" and row["name"] == "judge"
    code, out, _ = heron("trace", "show", result["run_id"][:8])
    assert code == 0
    for piece in ("judge", "summary (prompt)", "mood (label)", "reply (router)", "thanks"):
        assert piece in out
    code, out, _ = heron("trace", "show", result["run_id"], "--prompts")
    assert "Summarize: I love it" in out


def test_chain_run_reports_a_missing_input_name_before_running(heron, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.toml"
    path.write_text(CHAIN.replace("Positive or negative? {summary}", "{verdict}"))
    code, _, err = heron("chain", "run", str(path), "-i", "text=x")
    assert code == 2
    assert "step 'mood'" in err and "'verdict'" in err and "Traceback" not in err


def test_chain_run_reports_unknown_keys_and_missing_inputs(heron, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.toml"
    path.write_text(CHAIN.replace('output = "summary"', 'output = "summary"\ncolour = "red"'))
    code, _, err = heron("chain", "run", str(path), "-i", "text=x")
    assert code == 2 and "unknown key(s) colour" in err
    path.write_text(CHAIN)
    code, _, err = heron("chain", "run", str(path))
    assert code == 2 and "needs input 'text'" in err
    code, _, err = heron("chain", "run", str(path), "-i", "text")
    assert code == 2 and "NAME=VALUE" in err


def test_chain_input_from_a_file(heron, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "judge.toml"
    path.write_text(CHAIN)
    post = tmp_path / "post.txt"
    post.write_text("a long post")
    code, out, _ = heron("chain", "run", str(path), "-i", f"text=@{post}")
    assert code == 0 and "A Short Summary" in out


def test_agent_runs_tools_from_the_cli_and_is_traced(heron) -> None:  # type: ignore[no-untyped-def]
    # fake:TEXT always replies TEXT (and reads _ as a space), so it calls the calculator
    # again and again: the agent answers the repeat from memory, then stops it as a loop
    reply = '{"tool":"calculator","args":{"expression":"6*7"}}'
    code, out, err = heron("agent", "what is 6*7?", "--llm", f"fake:{reply}", "--json")
    assert code == 1, err
    result = json.loads(out)
    assert result["status"] == "loop" and result["answer"] is None
    assert result["steps"][0] == {
        "tool": "calculator",
        "args": {"expression": "6*7"},
        "observation": "42",
        "error": False,
    }
    code, out, _ = heron("trace", "list", "--kind", "agent", "--json")
    assert json.loads(out)[0]["id"] == result["run_id"]
    code, out, _ = heron("agent", "what is 6*7?", "--llm", f"fake:{reply}")
    assert "calculator" in out and "→ 42" in out and "status loop" in out


def test_agent_exit_code_when_the_model_never_calls_a_tool(heron) -> None:  # type: ignore[no-untyped-def]
    code, _, err = heron("agent", "what is 6*7?", "--llm", "fake:no_idea")
    assert code == 1
    assert "no answer" in err


def test_agent_tool_options_are_checked(heron) -> None:  # type: ignore[no-untyped-def]
    code, _, err = heron("agent", "x", "--tools", "shell", "--llm", "fake:x")
    assert code == 2 and "unknown tool 'shell'" in err
    code, _, err = heron("agent", "x", "--tools", "python", "--llm", "fake:x")
    assert code == 2 and "--allow-python" in err
    code, _, err = heron("agent", "x", "--tools", "table", "--llm", "fake:x")
    assert code == 2 and "--table PATH" in err


def test_agent_reports_the_python_sandbox_layers(heron) -> None:  # type: ignore[no-untyped-def]
    reply = '{"tool":"python","args":{"code":"print(6*7)"}}'
    code, out, err = heron(
        "agent", "what is 6*7?", "--tools", "python", "--allow-python", "--llm", f"fake:{reply}",
        "--max-steps", "2",
    )  # fmt: skip
    assert "python sandbox: " in err and "seccomp" in err
    code, out, _ = heron(
        "agent", "what is 6*7?", "--tools", "python", "--allow-python", "--llm", f"fake:{reply}",
        "--max-steps", "2", "--json",
    )  # fmt: skip
    layers = json.loads(out)["python_isolation"]["layers"]
    assert set(layers) >= {"netns", "mountns", "seccomp", "audit_hook"} and layers["audit_hook"]


def test_trace_show_unknown_id_is_a_clear_error(heron) -> None:  # type: ignore[no-untyped-def]
    code, _, err = heron("trace", "show", "abcdef12")
    assert code == 2 and "heron trace list" in err


def test_ask_with_chain_types(heron, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "shell.md").write_text("# Shell\n\nUse shlex.split to split a shell command line.\n")
    (docs / "json.txt").write_text("json.dumps turns a Python object into JSON text.\n")
    code, _, err = heron("ingest", str(docs), "-c", "kb", "--embedder", "hash:64", "--json")
    assert code == 0, err
    for chain_type in ("map_reduce", "refine"):
        code, out, err = heron(
            "ask", "split a shell command line", "-c", "kb", "--llm", "fake:use_shlex.split",
            "--chain-type", chain_type, "--json", "--threshold", "-1",
        )  # fmt: skip
        assert code == 0, err
        answer = json.loads(out)
        assert answer["text"] == "use shlex.split" and answer["citations"]
    rerank = '{"answer":"shlex.split","score":90}'
    code, out, err = heron(
        "ask", "split a shell command line", "-c", "kb", "--llm", f"fake:{rerank}",
        "--chain-type", "map_rerank", "--threshold", "-1",
    )  # fmt: skip
    assert code == 0, err
    assert "shlex.split" in out and "Sources" in out
    code, _, err = heron("ask", "x", "-c", "kb", "--llm", "fake:x", "--chain-type", "magic")
    assert code == 2 and "unknown chain type" in err
    code, out, _ = heron("trace", "list", "--json")
    assert {r["name"] for r in json.loads(out)} == {
        "ask:map_reduce",
        "ask:refine",
        "ask:map_rerank",
    }


def test_agent_search_and_table_tools_from_the_cli(heron, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "shell.md").write_text("# Shell\n\nUse shlex.split to split a shell command line.\n")
    code, _, err = heron("ingest", str(docs), "-c", "kb", "--embedder", "hash:64", "--json")
    assert code == 0, err
    reply = '{"tool":"search","args":{"query":"shlex"}}'
    code, out, _ = heron(
        "agent", "q", "--tools", "search", "-c", "kb", "--llm", f"fake:{reply}", "--json"
    )
    assert "shlex.split" in json.loads(out)["steps"][0]["observation"]
    pytest.importorskip("pandas")
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,x\n3,y\n")
    reply = '{"tool":"table","args":{"op":"mean","column":"a","by":""}}'
    code, out, _ = heron(
        "agent", "q", "--tools", "table", "--table", str(table), "--llm", f"fake:{reply}", "--json"
    )
    assert json.loads(out)["steps"][0]["observation"] == "mean of a: 2.00"


TASK_CHAIN = """
name = "tasks"
inputs = ["text"]
llm = "fake:positive"

[[steps]]
name = "mood"
type = "task"
task = "sentiment"
input = "text"
output = "mood"
"""


def test_trace_show_displays_the_tokens_of_task_steps(heron, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tasks.toml"
    path.write_text(TASK_CHAIN)
    code, out, err = heron("chain", "run", str(path), "-i", "text=I love it", "--json")
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    code, out, _ = heron("trace", "show", run_id, "--json")
    record = json.loads(out)
    (span,) = record["root"]["children"]
    assert span["kind"] == "task" and span["prompt_tokens"] > 0 and span["completion_tokens"] > 0
    code, out, _ = heron("trace", "show", run_id, "--prompts")
    tokens = f"tokens {span['prompt_tokens']}+{span['completion_tokens']}"
    (line,) = [line for line in out.splitlines() if "mood (task)" in line]
    assert tokens in line
    (total,) = [line for line in out.splitlines() if "total" in line]
    assert f"tokens {record['prompt_tokens']}+{record['completion_tokens']}" in total
    assert "I love it" in out  # the task's prompt
    code, out, _ = heron("trace", "list", "--json")
    (row,) = json.loads(out)
    assert row["tokens"] == record["prompt_tokens"] + record["completion_tokens"] > 0
