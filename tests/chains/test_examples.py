"""The two examples: run with a scripted model (fast) and with the bundled SmolLM2 (slow)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from heron.testing.fakes import ScriptedLLM

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SALARIES = Path(__file__).resolve().parents[3] / "shared" / "data" / "tables" / "ds_salaries.csv"
QUESTION = "What is the average salary_in_usd by experience_level?"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def table(tmp_path: Path) -> Path:
    """ds_salaries.csv when shared data is present, else a small table with its columns."""
    if SALARIES.is_file():
        return SALARIES
    path = tmp_path / "salaries.csv"
    rows = ["work_year,experience_level,salary,salary_currency,salary_in_usd,company_size"]
    levels = ["EN", "MI", "SE", "EX"]
    for i in range(40):
        level = levels[i % 4]
        usd = 40_000 + 25_000 * (i % 4) + 1_000 * i
        rows.append(f"{2020 + i % 4},{level},{usd * 2},EUR,{usd},{'SML'[i % 3]}")
    path.write_text("\n".join(rows) + "\n")
    return path


def expected_means(path: Path) -> dict[str, float]:
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(path)
    means = frame.groupby("experience_level")["salary_in_usd"].mean()
    return {str(k): round(float(v), 2) for k, v in means.items()}


def numbers_by_level(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"\b(EN|MI|SE|EX): ([\d.]+)", text)}


def test_data_analyst_example_reports_the_pandas_number(
    table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pandas")
    example = load("data_analyst_agent")

    def script(prompt: str) -> str:
        if "Observation: mean of salary_in_usd" in prompt.rsplit("Task:", 1)[1]:
            observation = prompt.rsplit("Observation: ", 1)[1].strip()
            return json.dumps({"tool": "final_answer", "args": {"answer": observation}})
        args = {"op": "mean", "column": "salary_in_usd", "by": "experience_level"}
        return json.dumps({"tool": "table", "args": args})

    code = example.main([str(table), QUESTION, "--home", str(tmp_path)], llm=ScriptedLLM(script))
    out = capsys.readouterr().out
    assert code == 0
    answer = out.split("Answer: ", 1)[1]
    assert numbers_by_level(answer) == expected_means(table)


def test_self_moderating_post_rewrites_an_offensive_reply(tmp_path: Path) -> None:
    example = load("self_moderating_post")

    def script(prompt: str) -> str:
        if "Write a" in prompt:
            return "You idiot, pineapple on pizza is stupid."
        if "offensive" in prompt:
            return "yes"
        return "I see it differently, but stupid me, thanks for sharing."

    out: dict[str, Any] = example.run("Pineapple on pizza!", "angry", ScriptedLLM(script))
    assert out["reply"] == "You idiot, pineapple on pizza is stupid."
    assert (out["model_flag"], out["word_flag"], out["action"]) == ("yes", True, "rewrite")
    assert out["final"] == "I see it differently, but ****** me, thanks for sharing."


def test_self_moderating_post_keeps_a_clean_reply() -> None:
    example = load("self_moderating_post")
    llm = ScriptedLLM(lambda p: "Congratulations, well done!" if "Write a" in p else "no")
    out = example.run("First marathon done!", "friendly", llm)
    assert (out["action"], out["final"]) == ("keep", "Congratulations, well done!")
    assert not any("Rewrite" in p for p in llm.prompts)


@pytest.mark.slow
def test_data_analyst_example_on_smollm2(
    table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pandas")
    example = load("data_analyst_agent")
    from heron.models.registry import ModelRegistry

    llm = ModelRegistry(options={"threads": 1}).llm("bundled:smollm2")
    code = example.main([str(table), QUESTION, "--home", str(tmp_path)], llm=llm)
    out = capsys.readouterr().out
    assert code == 0, out
    assert numbers_by_level(out.split("Answer: ", 1)[1]) == expected_means(table)


@pytest.mark.slow
def test_self_moderating_post_on_smollm2() -> None:
    example = load("self_moderating_post")
    from heron.models.registry import ModelRegistry

    llm = ModelRegistry(options={"threads": 1}).llm("bundled:smollm2")
    out = example.run("Your code is garbage and so are you.", "angry", llm)
    assert out["action"] in ("keep", "rewrite") and out["model_flag"] in ("yes", "no")
    assert out["final"] and not example.has_blocked_words(out["final"])
