"""``gguf:`` — GGUF models run in-process with llama-cpp-python.

Every prompt, a bare string included, goes through the model's own chat template
(``create_chat_completion``), so instruct models see the format they were tuned on.
A GGUF without a template (a base model, e.g. the bundled Gemma 3 270M) gets plain
completion of the messages' contents instead: llama-cpp-python would otherwise
fall back to the Llama-2 ``[INST]`` format, which such a model has never seen.
One ``Llama`` instance is never used by two threads at once: generation, streaming
and tokenisation share one lock (a stream holds it until it is exhausted or closed).

The context window is the model's trained context capped at ``DEFAULT_CONTEXT``:
llama.cpp allocates the KV cache for the whole window up front, and 4096 tokens
hold a RAG prompt of several retrieved chunks while keeping memory and load time
small (SmolLM2 trains at 8k, Gemma 3 at 32k). Pass ``n_ctx`` to choose another
size; it is capped at the trained context (beyond it quality collapses) and
rounded down to a multiple of 256 (llama.cpp's granularity).

Constrained decoding: ``generate(..., grammar=GBNF)`` and ``generate_json(prompt,
schema)``. A deadline (``GenerateOptions.max_time_s``) runs the generation as a
stream and closes it at the first token past the deadline, which stops llama.cpp
there (``finish_reason="time"``); the prompt's evaluation cannot be interrupted.
Left out: embeddings, LoRA adapters, GPU offload, multimodal models.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from heron.errors import InputError, ModelError
from heron.models._gguf import has_gguf_magic, trained_context_length
from heron.models._runtime import Lazy, one_line, plain_prompt, require
from heron.models.base import LLM, GenerateOptions, Prompt, as_messages
from heron.models.deadline import FINISH_TIME, Deadline
from heron.models.registry import ModelSpec
from heron.types import Completion

#: the context window used when the caller does not choose one (see module doc)
DEFAULT_CONTEXT = 4096
_CTX_STEP = 256


def check_gguf_path(path: Path) -> Path:
    """Fail early, with a hint, on a path llama.cpp would reject obscurely."""
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ModelError(
            f"GGUF model {path} {what}",
            hint="pass the path of a .gguf file, e.g. gguf:/models/smollm2.gguf; "
            "`heron models list` shows the bundled ones",
        )
    try:
        is_gguf = has_gguf_magic(path)
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror}") from exc
    if not is_gguf:
        raise ModelError(
            f"{path} is not a GGUF file (no GGUF magic bytes)",
            hint="convert the model with llama.cpp's convert_hf_to_gguf.py, or use hf: "
            "for a Hugging Face folder",
        )
    return path.resolve()


def choose_context(path: Path, requested: int | None) -> int:
    """The window to allocate: the request or the default, capped at the trained size.

    llama.cpp rounds a context up to a multiple of 256 while llama-cpp-python sizes
    its token buffer by the request, so anything else breaks long prompts; round down.
    """
    trained = trained_context_length(path) or DEFAULT_CONTEXT
    window = min(requested or DEFAULT_CONTEXT, trained)
    return max(_CTX_STEP, window - window % _CTX_STEP)


def default_threads() -> int:
    """All CPUs this process may use but one (at least one).

    llama.cpp's threads spin while they wait for each other, so when every core is
    in use and anything else runs, generation slows down by up to 10x (measured on
    2 cores under load). Leaving one core free costs ~13% at best (SmolLM2: 139 vs
    159 tokens/s on 2 cores) and removes that cliff. ``threads=`` overrides it.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus - 1)


@contextmanager
def captured_stderr() -> Iterator[Callable[[], str]]:
    """Send file descriptor 2 to a temp file, so llama.cpp's C-level logs stay quiet.

    Yields a function that returns what was written so far (for error messages).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)

        def read() -> str:
            sys.stderr.flush()
            sink.seek(0)
            return sink.read().decode("utf-8", errors="replace")

        try:
            yield read
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _log_message(text: str) -> str:
    """The most telling line of a llama.cpp log: the first error, else the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    return (errors or lines or [""])[0 if errors else -1]


def _choice_text(choice: Mapping[str, Any]) -> str:
    """Text of a chat message, a chat delta or a plain completion choice."""
    if "text" in choice:
        return str(choice["text"] or "")
    part = choice.get("message") or choice.get("delta") or {}
    return str(part.get("content") or "")


def sampling_kwargs(options: GenerateOptions) -> dict[str, Any]:
    """GenerateOptions as ``create_chat_completion`` keywords (temperature 0 = greedy)."""
    return {
        "max_tokens": options.max_tokens,
        "temperature": options.temperature,
        "top_p": options.top_p,
        "top_k": options.top_k,
        "repeat_penalty": options.repeat_penalty,
        "stop": list(options.stop),
        "seed": options.seed,
    }


class LlamaCppLLM(LLM):
    """A GGUF model behind the ``LLM`` interface."""

    can_stream = True

    def __init__(
        self,
        spec: ModelSpec | str,
        threads: int | None = None,
        n_ctx: int | None = None,
        **_: Any,
    ) -> None:
        target = spec.target if isinstance(spec, ModelSpec) else spec
        self.spec = f"gguf:{target}"
        self.path = check_gguf_path(Path(target).expanduser())
        self.threads = threads
        self._requested_ctx = n_ctx
        self._window: int | None = None
        self._llama: Lazy[Any] = Lazy(self._load)
        self._lock = threading.Lock()

    @property
    def context_window(self) -> int:
        if self._window is None:
            self._window = choose_context(self.path, self._requested_ctx)
        return self._window

    @context_window.setter
    def context_window(self, value: int) -> None:
        if self._llama.loaded:
            raise ModelError("the context window of a loaded GGUF model cannot change")
        self._requested_ctx, self._window = value, None

    def _load(self) -> Any:
        llama_cpp = require("llama_cpp", "llama-cpp-python", "llm")
        threads = self.threads or default_threads()
        with captured_stderr() as log:
            try:
                return llama_cpp.Llama(
                    model_path=str(self.path),
                    n_ctx=self.context_window,
                    n_threads=threads,
                    n_threads_batch=threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                detail = _log_message(log()) or one_line(exc)
                raise ModelError(
                    f"llama.cpp could not load {self.path}: {detail}",
                    hint="the file may be truncated or use an architecture this "
                    "llama-cpp-python build does not know; try a newer llama-cpp-python",
                ) from exc

    @property
    def llama(self) -> Any:
        """The underlying ``llama_cpp.Llama`` (loads it on first access)."""
        return self._llama.get()

    @property
    def has_chat_template(self) -> bool:
        """Whether the GGUF carries a chat template (base models such as Gemma 3 270M do not)."""
        return bool(self.llama.metadata.get("tokenizer.chat_template"))

    def generate(
        self,
        prompt: Prompt,
        options: GenerateOptions | None = None,
        *,
        grammar: str | None = None,
    ) -> Completion:
        """Complete ``prompt``; ``grammar`` (GBNF) constrains what may be generated."""
        options = options or GenerateOptions()
        deadline = Deadline.start(options.max_time_s)
        kwargs = self._request(options, grammar)
        if deadline is not None:
            return self._generate_until(prompt, kwargs, deadline)
        with self._lock, self._errors():
            result = self._create(prompt, kwargs, stream=False)
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(
            text=_choice_text(choice),
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )

    def _generate_until(
        self, prompt: Prompt, kwargs: dict[str, Any], deadline: Deadline
    ) -> Completion:
        """Generate as a stream, closed at the first token past ``deadline``.

        llama.cpp reports usage only for a finished non-streamed call, so the counts
        are taken here: the prompt is what the context holds at the first token, the
        completion is the generated text re-tokenised.
        """
        pieces: list[str] = []
        finish = "stop"
        prompt_tokens = 0
        with self._lock, self._errors():
            chunks = self._create(prompt, kwargs, stream=True)
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    if not prompt_tokens:
                        prompt_tokens = int(self.llama.n_tokens)
                    piece = _choice_text(choice)
                    pieces.append(piece)
                    finish = choice.get("finish_reason") or finish
                    # checked after text only: the chat stream's first chunk (the role)
                    # comes with the first token, which is then always returned
                    if piece and not choice.get("finish_reason") and deadline.expired():
                        finish = FINISH_TIME
                        break
            finally:
                chunks.close()  # stops llama.cpp's token loop where it is
            text = "".join(pieces)
            completion_tokens = len(self._tokenize(text)) if text else 0
        return Completion(text, finish, prompt_tokens, completion_tokens)

    def stream(
        self,
        prompt: Prompt,
        options: GenerateOptions | None = None,
        *,
        grammar: str | None = None,
    ) -> Iterator[str]:
        """Yield text pieces as llama.cpp produces them (token by token).

        With ``max_time_s`` the stream ends at the first token past the deadline.
        """
        options = options or GenerateOptions()
        deadline = Deadline.start(options.max_time_s)
        kwargs = self._request(options, grammar)
        with self._lock, self._errors():
            chunks = self._create(prompt, kwargs, stream=True)
            try:
                for chunk in chunks:
                    piece = _choice_text(chunk["choices"][0])
                    if piece:
                        yield piece
                        if deadline is not None and deadline.expired():
                            return
            finally:
                chunks.close()  # an abandoned stream must not finish later, unlocked

    def _create(self, prompt: Prompt, kwargs: dict[str, Any], stream: bool) -> Any:
        """Chat through the model's template, or plain completion when it has none."""
        messages = as_messages(prompt)
        if self.has_chat_template:
            chat = [{"role": m.role, "content": m.content} for m in messages]
            return self.llama.create_chat_completion(messages=chat, stream=stream, **kwargs)
        return self.llama.create_completion(plain_prompt(messages), stream=stream, **kwargs)

    def generate_json(
        self,
        prompt: Prompt,
        schema: Mapping[str, Any],
        options: GenerateOptions | None = None,
    ) -> Completion:
        """Generate text that parses as JSON matching ``schema`` (unless cut by max_tokens)."""
        llama_grammar = require("llama_cpp.llama_grammar", "llama-cpp-python", "llm")
        try:
            grammar = llama_grammar.json_schema_to_gbnf(json.dumps(dict(schema)))
        except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
            raise InputError(
                f"cannot turn the JSON schema into a grammar: {one_line(exc)}",
                hint="use plain JSON Schema types (object, array, string, number, enum)",
            ) from exc
        return self.generate(prompt, options, grammar=grammar)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._tokenize(text))

    def _tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` (the caller holds the lock)."""
        tokens: list[int] = self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        return tokens

    def _request(self, options: GenerateOptions | None, grammar: str | None) -> dict[str, Any]:
        kwargs = sampling_kwargs(options or GenerateOptions())
        if grammar is not None:
            kwargs["grammar"] = self._grammar(grammar)
        return kwargs

    def _grammar(self, text: str) -> Any:
        """Parse GBNF once up front: llama.cpp aborts the process on a bad grammar."""
        llama_cpp = require("llama_cpp", "llama-cpp-python", "llm")
        vocab = llama_cpp.llama_model_get_vocab(self.llama.model)
        with self._lock, captured_stderr() as log:
            sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode("utf-8"), b"root")
            detail = _log_message(log())
        if not sampler:
            raise InputError(
                f"invalid GBNF grammar: {detail or 'llama.cpp rejected it'}",
                hint="the start rule must be called 'root'; see llama.cpp's grammars/README.md",
            )
        llama_cpp.llama_sampler_free(sampler)
        return llama_cpp.LlamaGrammar.from_string(text, verbose=False)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Map llama.cpp's ValueErrors to Heron errors with a hint."""
        try:
            yield
        except ValueError as exc:
            message = str(exc)
            if "exceed context window" in message:
                raise InputError(
                    f"the prompt does not fit {self.spec}: {message}",
                    hint="shorten the prompt, retrieve fewer chunks (k), "
                    "or load the model with a larger n_ctx",
                ) from exc
            raise ModelError(f"{self.spec} failed: {one_line(message)}") from exc
        except RuntimeError as exc:
            raise ModelError(f"{self.spec} failed: {one_line(exc)}") from exc
