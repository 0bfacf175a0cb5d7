"""``openai:BASE_URL#MODEL`` — any server that speaks OpenAI's chat completions API.

Uses only the standard library (urllib), so it needs no extra. Requests go to
``{BASE_URL}/chat/completions``; ``stream`` reads server-sent events (``data:``
lines up to ``data: [DONE]``). The API key comes from ``HERON_OPENAI_API_KEY`` or
``OPENAI_API_KEY`` when set and is never required (local servers ignore it).
Loopback URLs bypass any HTTP proxy configured in the environment.

Options: max_tokens, temperature, top_p, stop and seed are standard fields.
top_k and repeat_penalty are not in OpenAI's API; they are sent as the extra
fields llama.cpp's servers (llama-cpp-python and llama-server) understand,
except to api.openai.com, which rejects unknown fields: there they are dropped.
Pass ``llama_extras=True/False`` to force either way.

A deadline (``GenerateOptions.max_time_s``) makes ``generate`` stream the reply:
every socket read waits at most until the deadline, and once it has passed the
connection is closed (servers such as vLLM and llama.cpp's stop generating when
their client goes away) and the text received so far comes back with
``finish_reason="time"``. ``timeout_s`` stays a health limit: a server silent for
that long raises ``HeronTimeout``.

Left out: tools/function calling, logprobs, n > 1, the legacy completions API.
"""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

from heron.errors import ConfigError, HeronTimeout, ModelError
from heron.models._runtime import one_line
from heron.models.base import LLM, GenerateOptions, Prompt, as_messages
from heron.models.deadline import FINISH_TIME, Deadline
from heron.models.registry import ModelSpec
from heron.types import Completion

DEFAULT_TIMEOUT_S = 120.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_base_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"openai:{url}: the base URL must be http(s)://host[:port]/path",
            hint="example: openai:http://127.0.0.1:8000/v1#smollm2",
        )
    return parts


def http_hint(status: int) -> str:
    """What to do about an HTTP error status."""
    if status in (401, 403):
        return "set HERON_OPENAI_API_KEY (or OPENAI_API_KEY) to a key the server accepts"
    if status == 404:
        return "check the base URL (usually ending in /v1) and the model name after '#'"
    if status < 500:
        return "the server refused the request as sent; its message says why"
    return "the server failed; see its log"


def server_message(body: bytes) -> str:
    """The error text a server put in its body (OpenAI, FastAPI or plain), one line."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        return one_line(text or "(empty body)")
    message: Any = data
    if isinstance(data, dict):
        message = data.get("error", data.get("detail", data))
        if isinstance(message, dict):
            message = message.get("message", message)
    # llama-cpp-python appends a traceback after a blank line; keep the message part.
    return one_line(str(message).split("\n\n")[0])


def parse_sse(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """JSON payloads of ``data:`` lines until ``[DONE]``; comments and blanks skipped."""
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").strip()
        if not line.startswith("data:"):
            continue
        payload = line[len("data:") :].strip()
        if payload == "[DONE]":
            return
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise ModelError(f"malformed event in stream: {one_line(payload, 120)}") from exc
        if isinstance(event, dict):
            yield event


class _DeadlinePassed(Exception):
    """Internal: the generation deadline passed while reading a reply."""


def _socket_of(response: Any) -> Any:
    """The socket under a urllib response, to shorten its read timeout (None if hidden).

    ``http.client`` keeps it as ``response.fp.raw._sock``; there is no public handle.
    """
    raw = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if callable(getattr(sock, "settimeout", None)) else None


class OpenAICompatLLM(LLM):
    """A remote model reached over the OpenAI chat completions protocol."""

    can_stream = True

    def __init__(
        self,
        spec: ModelSpec | str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        api_key: str | None = None,
        n_ctx: int | None = None,
        llama_extras: bool | None = None,
        **_: Any,
    ) -> None:
        parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(f"openai:{spec}")
        parts = _check_base_url(parsed.target)
        self.spec = str(parsed)
        self.base_url = parsed.target.rstrip("/")
        self.model = parsed.fragment
        self.url = f"{self.base_url}/chat/completions"
        self.timeout_s = timeout_s
        self._api_key = (
            api_key or os.environ.get("HERON_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY")
        )
        host = parts.hostname or ""
        self._llama_extras = (
            llama_extras if llama_extras is not None else not host.endswith("openai.com")
        )
        handlers = [urllib.request.ProxyHandler({})] if is_loopback(host) else []
        self._opener = urllib.request.build_opener(*handlers)
        if n_ctx:
            self.context_window = n_ctx

    def payload(self, prompt: Prompt, options: GenerateOptions, stream: bool) -> dict[str, Any]:
        """The JSON body for one request."""
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in as_messages(prompt)],
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "stream": stream,
        }
        if self.model:
            body["model"] = self.model
        if options.stop:
            body["stop"] = list(options.stop)
        if options.seed is not None:
            body["seed"] = options.seed
        if self._llama_extras:
            body.update(top_k=options.top_k, repeat_penalty=options.repeat_penalty)
        return body

    def _open(self, body: dict[str, Any], timeout_s: float | None = None) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )
        try:
            return self._opener.open(request, timeout=timeout_s or self.timeout_s)
        except urllib.error.HTTPError as exc:
            detail = server_message(exc.read())
            raise ModelError(
                f"{self.url} answered HTTP {exc.code}: {detail}", hint=http_hint(exc.code)
            ) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timeout() from exc
            raise ModelError(
                f"cannot reach {self.url}: {one_line(exc.reason)}",
                hint="is the server running? e.g. `python -m llama_cpp.server --model FILE.gguf`",
            ) from exc
        except TimeoutError as exc:
            raise self._timeout() from exc

    def _timeout(self) -> HeronTimeout:
        return HeronTimeout(
            f"{self.url} did not answer within {self.timeout_s:g} s",
            hint="raise the timeout or check the server's load",
        )

    def generate(self, prompt: Prompt, options: GenerateOptions | None = None) -> Completion:
        options = options or GenerateOptions()
        deadline = Deadline.start(options.max_time_s)
        if deadline is not None:
            return self._generate_until(prompt, options, deadline)
        body = self.payload(prompt, options, stream=False)
        with self._open(body) as response:
            raw = self._read(response)
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            snippet = one_line(raw.decode("utf-8", "replace"), 160)
            raise ModelError(
                f"{self.url} sent a malformed reply: {snippet}",
                hint="is this an OpenAI-compatible /chat/completions endpoint?",
            ) from exc
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )

    def _generate_until(
        self, prompt: Prompt, options: GenerateOptions, deadline: Deadline
    ) -> Completion:
        """Stream the reply until it ends or ``deadline`` passes; return what arrived."""
        pieces: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        try:
            for event in self._events(prompt, options, deadline):
                if event.get("choices"):  # a usage-only event has none
                    pieces.append(self._delta(event))
                usage = event.get("usage") or usage
                choices = event.get("choices") or [{}]
                finish = (choices[0] or {}).get("finish_reason") or finish
        except _DeadlinePassed:
            finish = finish or FINISH_TIME
        text = "".join(pieces)
        prompt_text = "\n".join(m.content for m in as_messages(prompt))
        return Completion(
            text=text,
            finish_reason=finish or "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or self.count_tokens(prompt_text)),
            completion_tokens=int(
                usage.get("completion_tokens") or (self.count_tokens(text) if text else 0)
            ),
        )

    def stream(self, prompt: Prompt, options: GenerateOptions | None = None) -> Iterator[str]:
        """Yield content deltas as the server sends them (until ``max_time_s``, if set)."""
        options = options or GenerateOptions()
        try:
            for event in self._events(prompt, options, Deadline.start(options.max_time_s)):
                piece = self._delta(event)
                if piece:
                    yield piece
        except _DeadlinePassed:
            return

    def _events(
        self, prompt: Prompt, options: GenerateOptions, deadline: Deadline | None
    ) -> Iterator[dict[str, Any]]:
        """The stream's events; ``_DeadlinePassed`` once ``deadline`` has passed.

        The connection is closed on the way out, so the server sees its client leave.
        """
        body = self.payload(prompt, options, stream=True)
        try:
            response = self._open(body, self._wait(deadline))
        except HeronTimeout:
            if deadline is not None and deadline.expired():
                raise _DeadlinePassed from None
            raise
        with response:
            try:
                yield from parse_sse(self._lines(response, deadline))
            except TimeoutError as exc:
                if deadline is not None and deadline.expired():
                    raise _DeadlinePassed from exc
                raise self._timeout() from exc

    def _wait(self, deadline: Deadline | None) -> float:
        """How long one socket operation may block: the timeout, or less near the deadline."""
        if deadline is None:
            return self.timeout_s
        left = deadline.remaining()
        if left <= 0:
            raise _DeadlinePassed
        return min(self.timeout_s, left)

    def _lines(self, response: Any, deadline: Deadline | None) -> Iterator[bytes]:
        """Lines of the response body, each read waiting no longer than ``_wait`` allows."""
        sock = _socket_of(response)
        while True:
            if deadline is not None and sock is not None:
                sock.settimeout(self._wait(deadline))
            line: bytes = response.readline()
            if not line:
                return
            yield line

    def _delta(self, event: dict[str, Any]) -> str:
        if "error" in event:
            raise ModelError(f"{self.url} reported: {server_message(json.dumps(event).encode())}")
        try:
            content = event["choices"][0].get("delta", {}).get("content")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ModelError(f"{self.url} sent a malformed stream event") from exc
        return str(content) if content else ""

    def _read(self, response: Any) -> bytes:
        try:
            data: bytes = response.read()
        except TimeoutError as exc:
            raise self._timeout() from exc
        return data
