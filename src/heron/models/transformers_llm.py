"""``hf:`` — Hugging Face transformers models (causal or seq2seq) run with torch on CPU.

The model's config decides the class: ``is_encoder_decoder`` picks
``AutoModelForSeq2SeqLM`` (T5, BART…), anything else ``AutoModelForCausalLM``.
Prompts go through the tokenizer's chat template when it has one; otherwise the
messages' contents are joined with blank lines (what T5-style models expect).

Decoding: temperature 0 is greedy; otherwise multinomial sampling with top_p,
top_k (0 = off) and the seed applied inside ``torch.random.fork_rng`` so the
caller's global RNG state is left as it was. Stop strings end generation
(``stop_strings``) and are cut from the returned text, streamed or not. A
deadline (``GenerateOptions.max_time_s``) is a stopping criterion checked after
every new token: past it generation stops and ``finish_reason`` is ``"time"``.

Left out: beam search, GPU/device maps, quantisation, batching several prompts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from heron.errors import InputError, ModelError
from heron.models._runtime import (
    Lazy,
    ModelSource,
    hf_load_errors,
    one_line,
    plain_prompt,
    require,
    resolve_source,
    torch_threads,
)
from heron.models.base import LLM, GenerateOptions, Prompt, as_messages
from heron.models.deadline import FINISH_TIME, Deadline
from heron.models.registry import ModelSpec
from heron.types import Completion

#: context window assumed when the config names no position limit (T5 uses relative positions)
DEFAULT_CONTEXT = 1024


@dataclass(frozen=True)
class _Loaded:
    model: Any
    tokenizer: Any
    seq2seq: bool


@dataclass(frozen=True)
class _Request:
    inputs: dict[str, Any]
    kwargs: dict[str, Any]
    prompt_tokens: int


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    positions = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(positions)], True) if positions else (text, False)


def stop_filtered(pieces: Iterable[str], stops: Sequence[str]) -> Iterator[str]:
    """Re-chunk streamed text so no stop string (or its start) is ever yielded."""
    stops = [s for s in stops if s]
    hold = max((len(s) for s in stops), default=1) - 1
    buffer = ""
    for piece in pieces:
        buffer += piece
        text, stopped = cut_at_stop(buffer, stops)
        if stopped:
            if text:
                yield text
            return
        safe = len(buffer) - hold
        if safe > 0:
            yield buffer[:safe]
            buffer = buffer[safe:]
    if buffer:
        yield buffer


def generation_kwargs(options: GenerateOptions, tokenizer: Any) -> dict[str, Any]:
    """GenerateOptions as ``model.generate`` keywords."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": options.max_tokens,
        "repetition_penalty": options.repeat_penalty,
    }
    if options.temperature == 0:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(
            do_sample=True,
            temperature=options.temperature,
            top_p=options.top_p,
            top_k=options.top_k,
        )
    if options.stop:
        kwargs.update(stop_strings=[s for s in options.stop if s], tokenizer=tokenizer)
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        kwargs["pad_token_id"] = tokenizer.eos_token_id
    return kwargs


@contextmanager
def seeded(seed: int | None, sampling: bool) -> Iterator[None]:
    """Seed torch's CPU RNG for one generation, restoring the previous state after."""
    if seed is None or not sampling:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class _Cancel:
    """A stopping criterion that ends generation once ``event`` is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **_: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


class _PastDeadline:
    """A stopping criterion that ends generation once ``deadline`` has passed.

    ``hit`` tells afterwards whether it was this criterion that stopped it.
    """

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.hit = False

    def __call__(self, input_ids: Any, scores: Any, **_: Any) -> Any:
        import torch

        if self.deadline.expired():
            self.hit = True
        return torch.full((input_ids.shape[0],), self.hit, dtype=torch.bool)


def stopping_criteria(*criteria: Any) -> Any:
    """A ``StoppingCriteriaList`` of the criteria given (``None`` entries dropped)."""
    transformers = require("transformers", "transformers", "models")
    return transformers.StoppingCriteriaList([c for c in criteria if c is not None])


class TransformersLLM(LLM):
    """A transformers causal or seq2seq model behind the ``LLM`` interface."""

    can_stream = True

    def __init__(self, spec: ModelSpec | str, threads: int | None = None, **_: Any) -> None:
        target = spec.target if isinstance(spec, ModelSpec) else spec
        self.spec = f"hf:{target}"
        self.source: ModelSource = resolve_source(target, "hf", "Hugging Face model")
        self.threads = threads
        self._window: int | None = None
        self._config: Lazy[Any] = Lazy(self._load_config)
        self._parts: Lazy[_Loaded] = Lazy(self._load)
        self._lock = threading.Lock()  # one generation at a time
        # Fast tokenizers reconfigure themselves per call: not safe across threads.
        self._tokenizer_lock = threading.Lock()

    # -- loading -----------------------------------------------------------------
    def _load_config(self) -> Any:
        transformers = require("transformers", "transformers", "models")
        with hf_load_errors(self.source):
            return transformers.AutoConfig.from_pretrained(
                self.source.name, local_files_only=self.source.local_files_only
            )

    def _load(self) -> _Loaded:
        transformers = require("transformers", "transformers", "models")
        config = self._config.get()
        seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        auto = transformers.AutoModelForSeq2SeqLM if seq2seq else transformers.AutoModelForCausalLM
        local_only = self.source.local_files_only
        with hf_load_errors(self.source):
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                self.source.name, local_files_only=local_only
            )
            model = auto.from_pretrained(
                self.source.name, config=config, local_files_only=local_only
            )
        model.eval()
        return _Loaded(model, tokenizer, seq2seq)

    @property
    def is_seq2seq(self) -> bool:
        return bool(getattr(self._config.get(), "is_encoder_decoder", False))

    @property
    def context_window(self) -> int:
        if self._window is None:
            config = self._config.get()
            limits = (getattr(config, n, None) for n in ("max_position_embeddings", "n_positions"))
            self._window = next((int(v) for v in limits if isinstance(v, int)), DEFAULT_CONTEXT)
        return self._window

    @context_window.setter
    def context_window(self, value: int) -> None:
        self._window = value

    # -- generation --------------------------------------------------------------
    def _prepare(self, parts: _Loaded, prompt: Prompt, options: GenerateOptions) -> _Request:
        tokenizer = parts.tokenizer
        messages = as_messages(prompt)
        with self._tokenizer_lock:
            if getattr(tokenizer, "chat_template", None):
                text = tokenizer.apply_chat_template(
                    [{"role": m.role, "content": m.content} for m in messages],
                    add_generation_prompt=True,
                    tokenize=False,
                )
                inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
            else:
                inputs = tokenizer(plain_prompt(messages), return_tensors="pt")
        prompt_tokens = int(inputs["input_ids"].shape[1])
        kwargs = generation_kwargs(options, tokenizer)
        kwargs["max_new_tokens"] = self._room(parts, prompt_tokens, options.max_tokens)
        return _Request(dict(inputs), kwargs, prompt_tokens)

    def _room(self, parts: _Loaded, prompt_tokens: int, wanted: int) -> int:
        """New tokens that fit the window (a decoder-only model shares it with the prompt)."""
        window = self.context_window
        room = window if parts.seq2seq else window - prompt_tokens
        if prompt_tokens > window or room < 1:
            raise InputError(
                f"the prompt is {prompt_tokens} tokens; {self.spec} accepts {window} in all",
                hint="shorten the prompt or retrieve fewer chunks (k)",
            )
        return min(wanted, room)

    def _new_tokens(self, parts: _Loaded, output: Any, prompt_tokens: int) -> Any:
        sequence = output[0]
        return sequence if parts.seq2seq else sequence[prompt_tokens:]

    def generate(self, prompt: Prompt, options: GenerateOptions | None = None) -> Completion:
        options = options or GenerateOptions()
        deadline = Deadline.start(options.max_time_s)
        parts = self._parts.get()
        request = self._prepare(parts, prompt, options)
        sampling = bool(request.kwargs["do_sample"])
        watch = _PastDeadline(deadline) if deadline is not None else None
        extra = {"stopping_criteria": stopping_criteria(watch)} if watch is not None else {}
        with (
            self._lock,
            self._run_errors(),
            torch_threads(self.threads),
            seeded(options.seed, sampling),
        ):
            output = parts.model.generate(**request.inputs, **request.kwargs, **extra)
        new_ids = self._new_tokens(parts, output, request.prompt_tokens)
        raw = parts.tokenizer.decode(new_ids, skip_special_tokens=True)
        text, stopped = cut_at_stop(raw, options.stop)
        eos = parts.tokenizer.eos_token_id
        ended = stopped or (len(new_ids) > 0 and eos is not None and int(new_ids[-1]) == eos)
        finish = "stop" if ended or len(new_ids) < request.kwargs["max_new_tokens"] else "length"
        if watch is not None and watch.hit and not ended:
            finish = FINISH_TIME
        completion_tokens = len(new_ids) - (1 if parts.seq2seq else 0)
        return Completion(text, finish, request.prompt_tokens, max(completion_tokens, 0))

    def stream(self, prompt: Prompt, options: GenerateOptions | None = None) -> Iterator[str]:
        """Yield text as it is generated (a background thread runs ``generate``).

        With ``max_time_s`` generation stops at the first token past the deadline.
        """
        transformers = require("transformers", "transformers", "models")
        options = options or GenerateOptions()
        deadline = Deadline.start(options.max_time_s)
        parts = self._parts.get()
        request = self._prepare(parts, prompt, options)
        streamer = transformers.TextIteratorStreamer(
            parts.tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        cancel = threading.Event()
        failures: list[BaseException] = []

        def run() -> None:
            sampling = bool(request.kwargs["do_sample"])
            try:
                with torch_threads(self.threads), seeded(options.seed, sampling):
                    parts.model.generate(
                        **request.inputs,
                        **request.kwargs,
                        streamer=streamer,
                        stopping_criteria=stopping_criteria(
                            _Cancel(cancel), _PastDeadline(deadline) if deadline else None
                        ),
                    )
            except BaseException as exc:  # re-raised in the consuming thread
                failures.append(exc)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, name="heron-hf-stream", daemon=True)
            worker.start()
            try:
                yield from stop_filtered(streamer, options.stop)
            finally:
                cancel.set()
                worker.join()
        if failures:
            raise ModelError(f"{self.spec} failed while streaming: {one_line(failures[0])}")

    def count_tokens(self, text: str) -> int:
        tokenizer = self._parts.get().tokenizer
        with self._tokenizer_lock:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    @contextmanager
    def _run_errors(self) -> Iterator[None]:
        try:
            yield
        except (RuntimeError, ValueError, IndexError) as exc:
            raise ModelError(f"{self.spec} failed: {one_line(exc)}") from exc
