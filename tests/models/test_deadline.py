"""Generation deadlines (``GenerateOptions.max_time_s``) on every backend.

The scripted model runs on a ``FakeClock``, so its cases are exact. The real
backends are checked two ways that cannot flake under load: a deadline already
past at the first check stops after (at most) one token, and a short deadline on
a long generation returns far sooner than the generation would take.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from heron.models.base import GenerateOptions
from heron.models.deadline import FINISH_TIME, Deadline
from heron.models.registry import ModelSpec
from heron.testing.fakes import FakeClock, ScriptedLLM

#: a deadline that has passed by the time any backend first checks it
PAST = 1e-9
LONG_STORY = "Write a very long story about a dragon, with many chapters."


def test_max_time_s_is_validated_and_off_by_default() -> None:
    assert GenerateOptions().max_time_s is None
    assert GenerateOptions(max_time_s=2.5).max_time_s == 2.5
    with pytest.raises(ValidationError):
        GenerateOptions(max_time_s=0)
    assert Deadline.start(None) is None
    clock = FakeClock(10.0)
    deadline = Deadline.start(3.0, clock)
    assert deadline is not None and deadline.remaining() == 3.0 and not deadline.expired()
    clock.sleep(3.0)
    assert deadline.expired() and deadline.remaining() == 0.0


# -- the scripted model, on a fake clock ----------------------------------------------
def slow_scripted(reply: str, clock: FakeClock) -> ScriptedLLM:
    return ScriptedLLM([reply], seconds_per_token=1.0, clock=clock, sleep=clock.sleep)


def test_scripted_model_stops_at_the_first_token_past_the_deadline() -> None:
    clock = FakeClock()
    llm = slow_scripted("one two three four five six", clock)
    completion = llm.generate("go", GenerateOptions(max_time_s=3.5))
    assert (completion.text, completion.finish_reason) == ("one two three four ", FINISH_TIME)
    assert clock.now == 4.0  # four tokens of one second each; the fourth ends past 3.5
    assert llm.active == 0 and llm.options[0].max_time_s == 3.5


def test_scripted_model_within_its_deadline_finishes_normally() -> None:
    clock = FakeClock()
    llm = slow_scripted("one two three", clock)
    completion = llm.generate("go", GenerateOptions(max_time_s=3.0))
    assert (completion.text, completion.finish_reason) == ("one two three", "stop")
    assert clock.now == 3.0
    untimed = slow_scripted("one two", clock).generate("go")
    assert untimed.finish_reason == "stop" and clock.now == 5.0


def test_scripted_model_in_real_time_returns_well_before_its_full_reply() -> None:
    llm = ScriptedLLM(["word " * 1000], seconds_per_token=0.01)  # 10 s in all
    start = time.monotonic()
    completion = llm.generate("go", GenerateOptions(max_time_s=0.2))
    assert time.monotonic() - start < 5
    assert completion.finish_reason == FINISH_TIME
    assert 0 < completion.text.count("word") < 1000


# -- Hugging Face transformers (tiny random models) -------------------------------------
@pytest.mark.parametrize("name", ["llama-chat", "gpt2", "t5"])
def test_hf_deadline_stops_generation_after_one_token(
    tiny_models: dict[str, Path], name: str
) -> None:
    from heron.models.transformers_llm import TransformersLLM

    llm = TransformersLLM(ModelSpec("hf", str(tiny_models[name])), threads=1)
    options = GenerateOptions(max_tokens=40, temperature=0.0)
    full = llm.generate("the cat sat on", options)
    assert full.finish_reason == "length" and full.completion_tokens >= 30
    cut = llm.generate("the cat sat on", options.model_copy(update={"max_time_s": PAST}))
    assert cut.finish_reason == FINISH_TIME
    assert cut.completion_tokens <= 1
    assert full.text.startswith(cut.text)
    pieces = list(llm.stream("the cat sat on", options.model_copy(update={"max_time_s": PAST})))
    assert len("".join(pieces)) < len(full.text)


# -- llama.cpp (the bundled SmolLM2) ----------------------------------------------------
@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> Any:
    from heron.models.llamacpp import LlamaCppLLM

    return LlamaCppLLM(ModelSpec("gguf", str(smollm2_path)), threads=1)


def test_gguf_counts_and_text_match_without_a_binding_deadline(smol: Any) -> None:
    options = GenerateOptions(max_tokens=20)
    plain = smol.generate(LONG_STORY, options)
    timed = smol.generate(LONG_STORY, options.model_copy(update={"max_time_s": 600}))
    assert timed == plain  # same text, finish reason and token counts


def test_gguf_past_deadline_stops_at_the_first_token(smol: Any) -> None:
    cut = smol.generate(LONG_STORY, GenerateOptions(max_tokens=200, max_time_s=PAST))
    assert cut.finish_reason == FINISH_TIME
    assert cut.completion_tokens == 1 and cut.text and cut.prompt_tokens > 10
    assert smol._lock.acquire(blocking=False)  # the generation ended; nothing holds the model
    smol._lock.release()


def test_gguf_short_deadline_on_a_long_generation(smol: Any) -> None:
    # 2,000 tokens take SmolLM2 ~20 s on one thread; the call must end near 0.5 s.
    start = time.monotonic()
    cut = smol.generate(LONG_STORY, GenerateOptions(max_tokens=2000, max_time_s=0.5))
    elapsed = time.monotonic() - start
    assert cut.finish_reason == FINISH_TIME
    assert 0 < cut.completion_tokens < 500
    assert elapsed < 8
    start = time.monotonic()
    pieces = list(smol.stream(LONG_STORY, GenerateOptions(max_tokens=2000, max_time_s=0.5)))
    assert 0 < len(pieces) < 500 and time.monotonic() - start < 8


def test_gguf_deadline_under_a_grammar(smol: Any) -> None:
    schema = {"type": "object", "properties": {"story": {"type": "string"}}, "required": ["story"]}
    cut = smol.generate_json(LONG_STORY, schema, GenerateOptions(max_tokens=1500, max_time_s=PAST))
    assert cut.finish_reason == FINISH_TIME and cut.completion_tokens == 1


# -- OpenAI-compatible servers (a stdlib server that streams slowly) -------------------
class _SlowStream(BaseHTTPRequestHandler):
    """Streams one word every ``gap_s`` seconds, ``words`` in all; records whether the
    client went away before the end."""

    words: ClassVar[int] = 200
    gap_s: ClassVar[float] = 0.05
    outcome: ClassVar[list[str]] = []
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for n in range(self.words):
                event = {"choices": [{"delta": {"content": f"w{n} "}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
                time.sleep(self.gap_s)
            done = {"choices": [{"delta": {}, "finish_reason": "length"}]}
            self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            self.outcome.append("finished")
        except (BrokenPipeError, ConnectionResetError):
            self.outcome.append("client left")

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture()
def slow_server() -> Iterator[tuple[str, type[_SlowStream]]]:
    handler = type("Handler", (_SlowStream,), {"outcome": [], "bodies": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_openai_deadline_returns_the_text_so_far_and_leaves(
    slow_server: tuple[str, type[_SlowStream]],
) -> None:
    from heron.models.openai_compat import OpenAICompatLLM

    base, handler = slow_server
    llm = OpenAICompatLLM(ModelSpec.parse(f"openai:{base}#m"), timeout_s=30)
    start = time.monotonic()
    cut = llm.generate("go", GenerateOptions(max_tokens=500, max_time_s=0.3))
    assert time.monotonic() - start < 5  # the whole stream takes 10 s
    assert cut.finish_reason == FINISH_TIME
    assert cut.text.startswith("w0 w1") and 0 < cut.completion_tokens < 200
    assert handler.bodies[0]["stream"] is True
    for _ in range(100):  # the server notices at its next write (every 0.05 s)
        if handler.outcome:
            break
        time.sleep(0.05)
    assert handler.outcome == ["client left"]


def test_openai_stream_ends_at_the_deadline_and_short_replies_finish(
    slow_server: tuple[str, type[_SlowStream]],
) -> None:
    from heron.models.openai_compat import OpenAICompatLLM

    base, handler = slow_server
    llm = OpenAICompatLLM(ModelSpec.parse(f"openai:{base}#m"), timeout_s=30)
    pieces = list(llm.stream("go", GenerateOptions(max_time_s=0.3)))
    assert 0 < len(pieces) < 200
    handler.words, handler.gap_s = 3, 0.0
    whole = llm.generate("go", GenerateOptions(max_time_s=30))
    assert (whole.text, whole.finish_reason) == ("w0 w1 w2 ", "length")
