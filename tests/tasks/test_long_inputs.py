"""Inputs longer than the window: QA windows, LLM map-rerank, map-reduce summaries, caps."""

from __future__ import annotations

import re
from typing import Any

import pytest

from heron.errors import InputError
from heron.models import GenerateOptions, ModelRegistry
from heron.models.base import Prompt
from heron.tasks import Summary, TaskAnswer, TaskModels, answer, run_task, summarize
from heron.tasks.chunking import rank_pieces, split_to_fit
from heron.tasks.extractive import qa_windows
from heron.tasks.longtext import (
    NOT_FOUND,
    PIECE_ANSWER_GRAMMAR,
    found_nothing,
    grounded,
    map_reduce,
)
from heron.testing.fakes import ScriptedLLM
from heron.types import Completion

FILLER = "the cat sat on the mat. "
LATE = FILLER * 20 + "rome is the capital of italy."  # "rome" is far past a 64-token window
QUESTION = "what is the capital of italy?"


def words(text: str) -> int:
    return len(text.split())


# -- splitting -------------------------------------------------------------------
def test_split_to_fit_keeps_every_word_in_order_within_the_room() -> None:
    text = " ".join(f"Sentence {i} has five words." for i in range(40))
    pieces = split_to_fit(text, words, 12)
    assert len(pieces) > 1 and all(words(p) <= 12 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert split_to_fit("short text.", words, 12) == ["short text."]  # unchanged when it fits
    giant = "x" * 50  # one word longer than the room: cut into characters

    def chars(text: str) -> int:
        return len(text)

    parts = split_to_fit(giant, chars, 8)
    assert "".join(parts) == giant and all(len(p) <= 8 for p in parts)
    with pytest.raises(InputError, match="tokens per piece"):
        split_to_fit(text, words, 3)


def test_rank_pieces_puts_the_piece_sharing_rare_question_terms_first() -> None:
    pieces = ["the cat sat.", "paris is the capital of france.", "the dog sat on a log."]
    assert rank_pieces("What is the capital of France?", pieces) == [1, 0, 2]
    assert rank_pieces("nothing shared", pieces) == [0, 1, 2]  # ties keep document order


# -- extractive QA windows -------------------------------------------------------
def test_windows_cover_the_passage_and_overlap(tiny: dict[str, str], task_models: Any) -> None:
    model = task_models.hf_model(tiny["qa"].removeprefix("hf:"))
    windows = qa_windows(model, [QUESTION], [LATE], max_chunks=64)
    assert len(windows) > 1 and all(len(w.features["input_ids"]) <= model.window for w in windows)
    spans = [w.span for w in windows]
    assert spans[0][0] == 0 and spans[-1][1] == len(LATE)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start < end  # consecutive windows share tokens: no gap, an edge answer is whole
    for window in windows:  # offsets index the original passage
        for offset in (o for o in window.offsets if o is not None):
            piece = LATE[offset[0] : offset[1]]
            assert piece and piece.strip() == piece


def test_chunked_extractive_answer_finds_a_late_answer(
    tiny: dict[str, str], task_models: Any
) -> None:
    chunked = answer(LATE, QUESTION, model=tiny["qa_rome"], models=task_models)
    assert isinstance(chunked, TaskAnswer)
    assert chunked.text == "rome" and chunked.start == LATE.index("rome")
    assert LATE[chunked.start : chunked.end] == chunked.text
    assert not chunked.truncated and chunked.chunks > 1 and 0 < (chunked.score or 0) <= 1
    cut = answer(LATE, QUESTION, model=tiny["qa_rome"], models=task_models, long_text="truncate")
    assert isinstance(cut, TaskAnswer) and cut.truncated and cut.chunks == 1
    assert cut.text != "rome"  # the first window never sees it


def test_chunked_extractive_answers_batch_across_passages(
    tiny: dict[str, str], task_models: Any
) -> None:
    short = "rome is the capital of italy."
    passages = [LATE, short, FILLER * 5 + short]
    out = answer(passages, QUESTION, model=tiny["qa_rome"], models=task_models)
    assert isinstance(out, list)
    assert [a.text for a in out] == ["rome"] * 3
    assert [a.start for a in out] == [p.index("rome") for p in passages]
    assert out[1].chunks == 1
    single = answer(short, QUESTION, model=tiny["qa_rome"], models=task_models)
    truncate = answer(short, QUESTION, model=tiny["qa_rome"], models=task_models,
                      long_text="truncate")  # fmt: skip
    assert single == truncate  # a passage that fits: the same span and score either way


def test_random_model_spans_map_back_into_the_passage(
    tiny: dict[str, str], task_models: Any
) -> None:
    passage = "Stock markets fell today, while bond prices rose.  " * 12 + "Paris is in France."
    result = answer(passage, "where is paris?", model=tiny["qa"], models=task_models)
    assert isinstance(result, TaskAnswer) and result.start is not None and result.end is not None
    assert passage[result.start : result.end] == result.text and result.chunks > 1


def test_window_cap_and_long_questions_are_input_errors(
    tiny: dict[str, str], task_models: Any
) -> None:
    with pytest.raises(InputError, match=r"needs \d+ pieces .* more than max_chunks=2"):
        answer(LATE, QUESTION, model=tiny["qa"], models=task_models, max_chunks=2)
    with pytest.raises(InputError, match="shorten the question|leaving"):
        answer(LATE, "the cat " * 30 + "?", model=tiny["qa"], models=task_models)
    with pytest.raises(InputError, match="max_chunks must be a positive integer"):
        answer(LATE, QUESTION, model=tiny["qa"], models=task_models, max_chunks=0)
    with pytest.raises(InputError, match="unknown long_text mode"):
        answer(LATE, QUESTION, model=tiny["qa"], models=task_models, long_text="all")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="the passage is empty"):
        answer("  ", QUESTION, model=tiny["qa"], models=task_models)
    with pytest.raises(InputError, match="question 0 is empty"):
        answer(LATE, "", model=tiny["qa"], models=task_models)


# -- LLM answers: map-rerank -----------------------------------------------------
SENTENCES = [f"Report {i} lists the weather on day {i} as mild." for i in range(60)]
DOCUMENT = " ".join([*SENTENCES[:50], "The secret code word is heron.", *SENTENCES[50:]])


def context_of(prompt: str) -> str:
    match = re.search(r"Context: (.*?)\n\nQuestion:", prompt, re.S)
    return match.group(1) if match else ""


def code_reader(prompt: str) -> str:
    return "heron" if "secret code word is heron" in context_of(prompt) else "NONE"


def llm_models(llm: ScriptedLLM) -> TaskModels:
    registry = ModelRegistry()
    registry.register("llm", "scripted", lambda spec, **_: llm)
    return TaskModels(registry)


def test_llm_answer_asks_the_most_relevant_piece_first() -> None:
    llm = ScriptedLLM(code_reader, context_window=200)
    result = answer(DOCUMENT, "What is the secret code word?", model="scripted:x",
                    models=llm_models(llm))  # fmt: skip
    assert isinstance(result, TaskAnswer) and result.text == "heron"
    assert not result.truncated and result.chunks > 1
    assert len(llm.prompts) == 1  # ranked first, found verbatim: one call
    assert all(llm.count_tokens(p) <= 200 - 48 for p in llm.prompts)
    assert "reply NONE" in llm.prompts[0]


def test_llm_answer_truncated_misses_the_late_answer() -> None:
    llm = ScriptedLLM(code_reader, context_window=200)
    result = answer(DOCUMENT, "What is the secret code word?", model="scripted:x",
                    models=llm_models(llm), long_text="truncate")  # fmt: skip
    assert isinstance(result, TaskAnswer) and result.truncated and result.text == "NONE"
    assert len(llm.prompts) == 1


def test_llm_answer_when_no_piece_holds_it_asks_every_piece() -> None:
    llm = ScriptedLLM(lambda prompt: "NONE", context_window=200)
    result = answer(DOCUMENT, "Who won the cup?", model="scripted:x", models=llm_models(llm))
    assert isinstance(result, TaskAnswer) and result.text == NOT_FOUND
    assert len(llm.prompts) == result.chunks > 1
    with pytest.raises(InputError, match="more than max_chunks=2"):
        answer(DOCUMENT, "Who won?", model="scripted:x", models=llm_models(llm), max_chunks=2)


def test_llm_answer_prefers_an_answer_found_in_its_piece() -> None:
    def paraphrase(prompt: str) -> str:  # the top piece's answer is not in its words
        return "Heron, I believe" if "heron" in context_of(prompt) else "mild"

    llm = ScriptedLLM(paraphrase, context_window=200)
    result = answer(DOCUMENT, "What is the secret code word?", model="scripted:x",
                    models=llm_models(llm))  # fmt: skip
    assert isinstance(result, TaskAnswer) and result.text == "mild" and len(llm.prompts) == 2

    def only_top(prompt: str) -> str:
        return "Heron, I believe" if "heron" in context_of(prompt) else "NONE"

    llm = ScriptedLLM(only_top, context_window=200)
    result = answer(DOCUMENT, "What is the secret code word?", model="scripted:x",
                    models=llm_models(llm))  # fmt: skip
    assert isinstance(result, TaskAnswer) and result.text == "Heron, I believe"
    assert len(llm.prompts) == result.chunks  # every piece was asked before falling back


def test_short_passages_keep_one_batched_call() -> None:
    llm = ScriptedLLM(lambda prompt: "Paris", context_window=2048)
    out = answer(["Paris is in France.", DOCUMENT[:300]], "Where?", model="scripted:x",
                 models=llm_models(llm))  # fmt: skip
    assert [a.text for a in out] == ["Paris", "Paris"]  # type: ignore[union-attr]
    assert "reply NONE" not in llm.prompts[0]


class GrammarLLM(ScriptedLLM):
    """Looks like llama.cpp to the tasks (it has ``generate_json``); grammars are recorded."""

    def generate_json(
        self, prompt: Prompt, schema: Any, options: GenerateOptions | None = None
    ) -> Completion:
        return super().generate(prompt, options)


def test_constraining_backends_get_the_none_or_one_line_grammar() -> None:
    llm = GrammarLLM(code_reader, context_window=200, accepts_grammar=True)
    result = answer(DOCUMENT, "What is the secret code word?", model="scripted:x",
                    models=llm_models(llm))  # fmt: skip
    assert isinstance(result, TaskAnswer) and result.text == "heron"
    assert llm.grammars == [PIECE_ANSWER_GRAMMAR]


def test_reply_checks() -> None:
    assert found_nothing("NONE.") and found_nothing(" ") and found_nothing("I don't know")
    assert found_nothing("The answer is: NONE") and not found_nothing("Paris")
    assert not found_nothing("Nonetheless, Paris")
    assert grounded("The Eiffel tower", "see the eiffel  tower, in Paris")
    assert not grounded("Eiffel Paris", "see the eiffel tower, in Paris")


# -- summaries: map-reduce -------------------------------------------------------
def test_map_reduce_recurses_until_the_summaries_fit() -> None:
    calls: list[int] = []

    def first_words(pieces: list[str]) -> list[str]:
        calls.append(len(pieces))
        return [" ".join(p.split()[:6]) + "." for p in pieces]

    text = " ".join(f"Sentence {i} has exactly six words." for i in range(30))
    (result,) = map_reduce([text], first_words, words, 14, 64)
    assert result.chunks == 15 and not result.truncated
    assert calls[0] == 15 and calls[-1] == 1 and len(calls) >= 3  # map, collapse(s), reduce
    with pytest.raises(InputError, match="more than max_chunks=4"):
        map_reduce([text], first_words, words, 14, 4)
    with pytest.raises(InputError, match="do not get shorter"):
        map_reduce([text], list, words, 14, 64)


def test_seq2seq_summaries_map_reduce_over_the_encoder_window(
    tiny: dict[str, str], task_models: Any
) -> None:
    long_text = "the cat sat on the mat and the dog sat on the log. " * 60  # > 512 tokens
    opts = {"max_new_tokens": 4}
    cut = summarize(long_text, model=tiny["t5"], models=task_models, options=opts)
    assert isinstance(cut, Summary) and cut.truncated and cut.chunks == 1
    chunked = summarize([long_text, "hello world"], model=tiny["t5"], models=task_models,
                        options=opts, long_text="chunk")  # fmt: skip
    assert isinstance(chunked, list)
    assert chunked[0].chunks > 1 and not chunked[0].truncated and chunked[0].text
    assert chunked[1].chunks == 1 and not chunked[1].truncated
    with pytest.raises(InputError, match="more than max_chunks=1"):
        summarize(long_text, model=tiny["t5"], models=task_models, options=opts,
                  long_text="chunk", max_chunks=1)  # fmt: skip


def test_llm_summary_chunks_recursively_and_run_task_takes_long_text() -> None:
    llm = ScriptedLLM(lambda prompt: "a summary of this part in several words", context_window=160)
    text = " ".join(f"Sentence number {i} says something." for i in range(100))
    out = run_task("summarize", text, model="scripted:x", models=llm_models(llm),
                   long_text="chunk", max_chunks=64)  # fmt: skip
    assert isinstance(out, dict) and out["chunks"] > 1 and out["truncated"] is False
    assert len(llm.prompts) > out["chunks"] + 1  # the joined summaries needed another level
    reply = run_task("answer", "Paris is in France.", question="Where?", model="fake:France",
                     long_text="truncate")  # fmt: skip
    assert reply == {"text": "France", "score": None, "start": None, "end": None,
                     "truncated": False, "chunks": 1}  # fmt: skip
