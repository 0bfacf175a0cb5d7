"""openai: against a REAL llama-cpp-python server running the bundled SmolLM2.

Error paths the real server cannot produce on demand (a bad model name, broken
JSON, a missing key header) use a tiny stdlib HTTP server that records requests.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from heron.errors import ConfigError, HeronTimeout, ModelError
from heron.models.base import GenerateOptions
from heron.models.openai_compat import OpenAICompatLLM, parse_sse, server_message
from heron.models.registry import ModelSpec

GREEDY = GenerateOptions(max_tokens=16, temperature=0.0, seed=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not answer {url} within {timeout_s} s")


@pytest.fixture(scope="module")
def server(smollm2_path: Path) -> Iterator[str]:
    """Base URL of a llama-cpp-python server with SmolLM2 (always terminated)."""
    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        _wait_until_up(f"{base}/models", process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def remote(server: str) -> OpenAICompatLLM:
    return OpenAICompatLLM(ModelSpec.parse(f"openai:{server}#smollm2"))


def test_generate_through_the_real_server(remote: OpenAICompatLLM) -> None:
    completion = remote.generate("What is the capital of France?", GREEDY)
    assert completion.text.strip()
    assert completion.prompt_tokens > 5
    assert 0 < completion.completion_tokens <= 16
    assert completion == remote.generate("What is the capital of France?", GREEDY)


def test_server_matches_the_in_process_backend(remote: OpenAICompatLLM, smollm2_path: Path) -> None:
    from heron.models.llamacpp import LlamaCppLLM

    local = LlamaCppLLM(str(smollm2_path), n_ctx=2048, threads=1)
    prompt = "Name three fruits."
    assert remote.generate(prompt, GREEDY).text == local.generate(prompt, GREEDY).text


def test_streaming_yields_pieces_that_join_to_generate(remote: OpenAICompatLLM) -> None:
    pieces = list(remote.stream("Count from 1 to 10.", GREEDY))
    assert len(pieces) >= 5
    assert "".join(pieces) == remote.generate("Count from 1 to 10.", GREEDY).text


def test_a_deadline_ends_a_long_generation_on_the_real_server(remote: OpenAICompatLLM) -> None:
    # 1,500 tokens take the server (one thread) ~15 s; the call must end near 1 s. (How
    # many tokens arrive first depends on the machine's load: a fresh server needs
    # seconds before its first token, so the text may even be empty.)
    prompt = "Write a very long story about a dragon, with many chapters."
    start = time.monotonic()
    cut = remote.generate(prompt, GenerateOptions(max_tokens=1500, max_time_s=1.0))
    assert time.monotonic() - start < 8
    assert cut.finish_reason == "time" and cut.completion_tokens < 500
    # the server is free again: a short request is answered at once
    assert remote.generate("Say hi.", GREEDY.model_copy(update={"max_time_s": 30})).text


def test_stop_is_applied_by_the_server(remote: OpenAICompatLLM) -> None:
    full = remote.generate("Count from 1 to 10.", GREEDY).text
    assert "3" in full
    stopped = remote.generate("Count from 1 to 10.", GREEDY.model_copy(update={"stop": ["3"]}))
    assert stopped.text == full[: full.index("3")]


def test_prompt_over_the_server_context_reports_the_server_message(
    remote: OpenAICompatLLM,
) -> None:
    with pytest.raises(ModelError) as info:
        remote.generate("word " * 3000, GREEDY)
    message = str(info.value)
    assert "HTTP 400" in message and "/chat/completions" in message
    assert "context" in message.lower()
    assert "\n" not in message


def test_wrong_path_is_an_http_error_with_the_url(server: str) -> None:
    llm = OpenAICompatLLM(ModelSpec.parse(f"openai:{server}/nope#smollm2"))
    with pytest.raises(ModelError, match=r"nope/chat/completions answered HTTP 404") as info:
        llm.generate("hi", GREEDY)
    assert "/v1" in (info.value.hint or "")


def test_refused_port_is_a_model_error_with_a_hint() -> None:
    llm = OpenAICompatLLM(ModelSpec.parse(f"openai:http://127.0.0.1:{_free_port()}/v1#m"))
    with pytest.raises(ModelError, match="cannot reach http://127.0.0.1") as info:
        llm.generate("hi", GREEDY)
    assert "server running" in (info.value.hint or "")
    with pytest.raises(ModelError, match="cannot reach"):
        list(llm.stream("hi", GREEDY))


# -- a scripted stdlib server for the error paths -------------------------------------
class _Scripted(BaseHTTPRequestHandler):
    """Answers POSTs with (status, body) from the class-level script; records requests."""

    script: ClassVar[list[tuple[int, bytes]]] = []
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        self.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status, payload = self.script.pop(0)
        if status == 0:  # hang past the client's timeout, then drop the connection
            time.sleep(1.0)
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture()
def scripted() -> Iterator[tuple[str, type[_Scripted]]]:
    handler = type("Handler", (_Scripted,), {"script": [], "seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _ok(text: str) -> bytes:
    return json.dumps(
        {
            "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }
    ).encode()


def test_bad_model_name_reports_the_server_message(
    scripted: tuple[str, type[_Scripted]],
) -> None:
    base, handler = scripted
    error = {"error": {"message": "The model `nosuch` does not exist", "type": "invalid"}}
    handler.script.append((404, json.dumps(error).encode()))
    llm = OpenAICompatLLM(ModelSpec.parse(f"openai:{base}#nosuch"))
    with pytest.raises(ModelError, match="HTTP 404: The model `nosuch` does not exist") as info:
        llm.generate("hi")
    assert "model name after '#'" in (info.value.hint or "")
    assert handler.seen[0]["body"]["model"] == "nosuch"


def test_rejected_key_hints_at_the_variable(scripted: tuple[str, type[_Scripted]]) -> None:
    base, handler = scripted
    handler.script.append((401, b'{"error": {"message": "Incorrect API key provided"}}'))
    llm = OpenAICompatLLM(ModelSpec.parse(f"openai:{base}#m"), api_key="wrong")
    with pytest.raises(ModelError, match="HTTP 401: Incorrect API key provided") as info:
        llm.generate("hi")
    assert "HERON_OPENAI_API_KEY" in (info.value.hint or "")
    assert handler.seen[0]["headers"]["Authorization"] == "Bearer wrong"


def test_malformed_json_is_a_model_error(scripted: tuple[str, type[_Scripted]]) -> None:
    base, handler = scripted
    handler.script += [(200, b"<html>not json</html>"), (200, b'{"choices": []}')]
    llm = OpenAICompatLLM(ModelSpec.parse(f"openai:{base}#m"))
    with pytest.raises(ModelError, match="malformed reply: <html>not json</html>"):
        llm.generate("hi")
    with pytest.raises(ModelError, match="malformed reply"):
        llm.generate("hi")


def test_payload_key_and_extras(
    scripted: tuple[str, type[_Scripted]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, handler = scripted
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("HERON_OPENAI_API_KEY", "sk-heron")
    handler.script += [(200, _ok("fine")), (200, _ok("again"))]
    options = GenerateOptions(
        max_tokens=9, temperature=0.3, top_p=0.7, top_k=11, repeat_penalty=1.2, stop=["\n"], seed=5
    )
    llm = OpenAICompatLLM(ModelSpec.parse(f"openai:{base}/#m"))
    completion = llm.generate("hi", options)
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == (
        "fine",
        3,
        1,
    )
    request = handler.seen[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-heron"
    assert request["body"] == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 9,
        "temperature": 0.3,
        "top_p": 0.7,
        "stream": False,
        "stop": ["\n"],
        "seed": 5,
        "top_k": 11,
        "repeat_penalty": 1.2,
    }
    plain = OpenAICompatLLM(ModelSpec.parse(f"openai:{base}#m"), llama_extras=False)
    plain.generate("hi", options)
    assert "top_k" not in handler.seen[1]["body"]
    assert "repeat_penalty" not in handler.seen[1]["body"]


def test_no_key_header_without_a_key(
    scripted: tuple[str, type[_Scripted]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, handler = scripted
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    handler.script.append((200, _ok("ok")))
    OpenAICompatLLM(ModelSpec.parse(f"openai:{base}")).generate("hi")
    assert "Authorization" not in handler.seen[0]["headers"]
    assert "model" not in handler.seen[0]["body"]


def test_timeout_is_a_heron_timeout(scripted: tuple[str, type[_Scripted]]) -> None:
    base, handler = scripted
    handler.script.append((0, _ok("late")))
    llm = OpenAICompatLLM(ModelSpec.parse(f"openai:{base}#m"), timeout_s=0.3)
    with pytest.raises(HeronTimeout, match="did not answer within 0.3 s"):
        llm.generate("hi")


def test_api_openai_com_gets_no_llama_extras() -> None:
    llm = OpenAICompatLLM(ModelSpec.parse("openai:https://api.openai.com/v1#gpt-4o-mini"))
    body = llm.payload("hi", GenerateOptions(), stream=True)
    assert "top_k" not in body and body["stream"] is True


@pytest.mark.parametrize("url", ["ftp://host/v1", "127.0.0.1:8000/v1", "http:///v1"])
def test_bad_base_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="base URL"):
        OpenAICompatLLM(ModelSpec.parse(f"openai:{url}#m"))


def test_sse_parsing_and_server_messages() -> None:
    lines = [
        b": ping\n",
        b"\n",
        b'data: {"choices": [{"delta": {"role": "assistant"}}]}\n',
        b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n',
        b"data: [DONE]\n",
        b'data: {"never": "read"}\n',
    ]
    assert [e["choices"][0]["delta"] for e in parse_sse(lines)] == [
        {"role": "assistant"},
        {"content": "Hi"},
    ]
    with pytest.raises(ModelError, match="malformed event"):
        list(parse_sse([b"data: {oops\n"]))
    assert server_message(b'{"detail": "Not Found"}') == "Not Found"
    assert server_message(b'{"error": "plain"}') == "plain"
    assert server_message(b'{"error": {"message": "bad\\n\\n  File x.py"}}') == "bad"
    assert server_message(b"") == "(empty body)"
