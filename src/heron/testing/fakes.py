"""Deterministic, dependency-free fakes for tests and examples.

``HashEmbedder`` maps texts to vectors by feature hashing of word unigrams and
bigrams, so texts that share words are close: good enough to test retrieval
mechanics without a neural model. ``ScriptedLLM`` replays canned answers and
records every prompt it was given; with ``seconds_per_token`` it is a slow model
that honours ``GenerateOptions.max_time_s`` the way real backends do, and with a
``FakeClock`` it does so without sleeping, deterministically.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from heron.errors import ConfigError
from heron.models.base import LLM, Embedder, GenerateOptions, Prompt, as_messages
from heron.models.deadline import FINISH_TIME, Deadline
from heron.types import Completion

_TOKEN = re.compile(r"[a-z0-9_]+")


class HashEmbedder(Embedder):
    """Feature-hashing embedder; L2-normalised, deterministic across runs."""

    normalized = True

    def __init__(self, dim: int = 64) -> None:
        if dim < 2:
            raise ConfigError(f"hash embedder dimension must be >= 2, got {dim}")
        self.dim = dim
        self.spec = f"hash:{dim}"
        self.calls = 0

    @property
    def dimension(self) -> int:
        return self.dim

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dim, (1.0 if value >> 63 else -1.0)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _TOKEN.findall(text.lower())
            features = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
            for feature in features:
                index, sign = self._bucket(feature)
                out[row, index] += sign
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out


def hash_embedder_from_spec(spec: Any, **_: Any) -> HashEmbedder:
    """Registry factory for ``hash:DIM``."""
    try:
        dim = int(spec.target or 64)
    except ValueError as exc:
        raise ConfigError(f"'hash:{spec.target}': the dimension must be an integer") from exc
    return HashEmbedder(dim)


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it (for tests).

    Pass ``clock`` as the ``clock`` and ``clock.sleep`` as the ``sleep`` of the code
    under test: time then passes exactly as scripted, however loaded the machine.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(seconds, 0.0)


class ScriptedLLM(LLM):
    """Answers from a script: a list of replies, or a function of the prompt text.

    ``accepts_grammar=True`` makes it look like a llama.cpp backend to code that
    constrains output (``heron.chains``): it then takes ``grammar=`` and records
    each grammar in ``grammars`` (it does not enforce them; the script decides).

    ``seconds_per_token`` makes it a slow model: each "token" of the reply (a word
    with its trailing space) takes that long, and ``max_time_s`` stops it after the
    first token past the deadline, returning the words so far with
    ``finish_reason="time"``, as the real backends do. ``clock``/``sleep`` default
    to real time; pass a ``FakeClock`` for deterministic tests. ``options`` records
    the options of every call, ``active`` counts generations still running.
    """

    can_stream = True

    def __init__(
        self,
        replies: Sequence[str] | Callable[[str], str] = ("ok",),
        context_window: int = 2048,
        accepts_grammar: bool = False,
        seconds_per_token: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._replies = replies
        self._next = 0
        self.prompts: list[str] = []
        self.grammars: list[str | None] = []
        self.options: list[GenerateOptions] = []
        self.active = 0
        self.accepts_grammar = accepts_grammar
        self.context_window = context_window
        self.seconds_per_token = seconds_per_token
        self.clock = clock
        self.sleep = sleep
        self.spec = "scripted:"

    def _prompt_text(self, prompt: Prompt) -> str:
        return "\n".join(f"{m.role}: {m.content}" for m in as_messages(prompt))

    def generate(
        self,
        prompt: Prompt,
        options: GenerateOptions | None = None,
        *,
        grammar: str | None = None,
    ) -> Completion:
        if grammar is not None and not self.accepts_grammar:
            raise TypeError("this ScriptedLLM was made with accepts_grammar=False")
        text = self._prompt_text(prompt)
        self.prompts.append(text)
        self.grammars.append(grammar)
        if callable(self._replies):
            reply = self._replies(text)
        else:
            reply = self._replies[min(self._next, len(self._replies) - 1)]
            self._next += 1
        options = options or GenerateOptions()
        self.options.append(options)
        for stop in options.stop:
            if stop and stop in reply:
                reply = reply.split(stop, 1)[0]
        reply, finish = self._produce(reply, Deadline.start(options.max_time_s, self.clock))
        return Completion(reply, finish, self.count_tokens(text), self.count_tokens(reply))

    def _produce(self, reply: str, deadline: Deadline | None) -> tuple[str, str]:
        """Spend ``seconds_per_token`` per word; stop at the first one past ``deadline``."""
        if not self.seconds_per_token and deadline is None:
            return reply, "stop"
        self.active += 1
        try:
            pieces = re.findall(r"\s*\S+\s*", reply)
            for count in range(1, len(pieces) + 1):
                self.sleep(self.seconds_per_token)
                if deadline is not None and deadline.expired() and count < len(pieces):
                    return "".join(pieces[:count]), FINISH_TIME
            return reply, "stop"
        finally:
            self.active -= 1

    def stream(self, prompt: Prompt, options: GenerateOptions | None = None) -> Iterator[str]:
        text = self.generate(prompt, options).text
        yield from re.findall(r"\S+\s*", text)


def fake_llm_from_spec(spec: Any, **_: Any) -> ScriptedLLM:
    """Registry factory for ``fake:TEXT``: an LLM that always replies TEXT.

    It lets CLI and server tests (and users wiring a pipeline) run the whole
    flow without loading a model.
    """
    return ScriptedLLM([spec.target.replace("_", " ")])
