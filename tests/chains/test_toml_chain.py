"""Chains declared in TOML: every step type, nesting, and the errors a file can have."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from heron.chains.toml_chain import ChainBuilder, read_chain_file
from heron.errors import ConfigError, InputError
from heron.store import open_store
from heron.testing.fakes import ScriptedLLM

FILE = """
name = "all-kinds"
inputs = ["text", "question"]
llm = "json"

[[steps]]
name = "group"
type = "parallel"
[[steps.steps]]
name = "facts"
type = "json"
template = "Extract: {text}"
schema = { type = "object", properties = { n = { type = "integer" } } }
output = "facts"
[[steps.steps]]
name = "short"
type = "summarize"
llm = "echo"
method = "refine"
input = "text"
output = "short"

[[steps]]
name = "found"
type = "retrieve"
collection = "kb"
k = 1
input = "question"
output = "context"

[[steps]]
name = "qa"
type = "long_qa"
llm = "echo"
question = "question"
text = "context"
output = "answer"

[[steps]]
name = "shout"
type = "transform"
function = "string:capwords"
inputs = ["answer"]
output = "loud"
"""


def models() -> dict[str, ScriptedLLM]:
    return {"json": ScriptedLLM(['{"n": 3}']), "echo": ScriptedLLM(["the answer"])}


def test_every_step_type_builds_and_runs(tmp_path: Path) -> None:
    store = open_store(tmp_path / "home")
    kb = store.create_collection("kb", embedder="hash:32")
    kb.add(["a"], documents=["shlex splits shell lines"])
    llms = models()
    builder = ChainBuilder(llms.__getitem__, lambda name, k: store.get_collection(name), "echo")
    chain = builder.chain(tomllib.loads(FILE))
    result = chain.invoke(text="three apples", question="how to split shell lines?")
    assert result.outputs["facts"] == {"n": 3}
    assert result.outputs["short"] == "the answer"
    assert result.outputs["loud"] == "The Answer"
    assert [h.id for h in result.outputs["hits"]] == ["a"]
    assert [c.name for c in result.trace.children] == ["group", "found", "qa", "shout"]
    store.close()


def builder() -> ChainBuilder:
    llms = models()
    return ChainBuilder(llms.__getitem__, lambda name, k: None, "echo")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": []}, r"has no \[\[steps\]\]"),
        ({"steps": [{"type": "shell"}]}, "unknown step type 'shell'"),
        ({"steps": [{"type": "prompt"}]}, "needs 'template'"),
        ({"colour": 1, "steps": [{"type": "prompt"}]}, "unknown top-level key"),
        ({"inputs": "text", "steps": [{"type": "prompt", "template": "x"}]}, "list of names"),
        ({"steps": [{"type": "transform", "function": "nowhere:fn"}]}, "cannot import"),
        ({"steps": [{"type": "router", "on": "x", "branches": 3}]}, "branches must be tables"),
    ],
)
def test_file_errors_are_config_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        builder().chain(data)


def test_name_errors_in_a_file_are_found_before_running() -> None:
    data = {"inputs": ["text"], "steps": [{"type": "prompt", "template": "{missing}"}]}
    with pytest.raises(InputError, match="needs input 'missing'"):
        builder().chain(data)


def test_reading_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_chain_file(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(ConfigError, match="fix the TOML"):
        read_chain_file(bad)


def test_max_time_s_of_a_step_reaches_the_model_as_its_deadline() -> None:
    from heron.testing.fakes import FakeClock

    clock = FakeClock()
    slow = ScriptedLLM(["a b c d e f"], seconds_per_token=1.0, clock=clock, sleep=clock.sleep)
    builder = ChainBuilder(lambda spec: slow, lambda name, k: None, "slow")
    chain = builder.chain(
        {
            "inputs": ["text"],
            "steps": [
                {"name": "p", "type": "prompt", "template": "{text}", "max_time_s": 2.5},
                {"name": "q", "type": "prompt", "template": "{p}", "output": "q"},
            ],
        }
    )
    result = chain.invoke(text="go")
    assert [o.max_time_s for o in slow.options] == [2.5, None]
    assert result.outputs["p"] == "a b c"  # cut at the first word past 2.5 s
