"""A self-moderating reply: one chain writes a reply to a post, a second one moderates it.

    python examples/self_moderating_post.py "POST" [--tone angry] [--llm SPEC]

Chain 1, ``reply``: a prompt step writes a reply to the post in the given tone.
Chain 2, ``moderate``: two checks run in parallel (the model labels the reply
offensive or not, with grammar-constrained yes/no on llama.cpp models; a word list
flags insults), a transform decides, a router either keeps the reply or has the
model rewrite it politely, and a last transform masks any blocked word the
rewrite still contains, so nothing on the list gets through whatever the model
writes. Both runs are traced (``heron trace list``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from heron.chains import Chain, LabelStep, Parallel, PromptStep, Router, RunTraces, TransformStep
from heron.models.base import LLM, GenerateOptions
from heron.models.registry import ModelRegistry

BLOCKED = ("idiot", "stupid", "moron", "dumb", "loser", "shut up", "hate you", "pathetic")
_BLOCKED = re.compile(r"\b(" + "|".join(re.escape(w) for w in BLOCKED) + r")\b", re.IGNORECASE)

REPLY = "Write a {tone} reply, one or two sentences, to this social media post:\n\n{post}"
JUDGE = "Is this reply offensive, rude or insulting? Answer yes or no.\n\nReply: {reply}"
REWRITE = (
    "Rewrite this reply so that it is polite and respectful but keeps its point. "
    "Reply with the rewritten text only.\n\n{reply}"
)


def has_blocked_words(reply: str) -> bool:
    return _BLOCKED.search(reply) is not None


def decide(model_flag: str, word_flag: bool) -> str:
    return "rewrite" if word_flag or model_flag == "yes" else "keep"


def mask(text: str) -> str:
    return _BLOCKED.sub(lambda m: "*" * len(m.group(0)), text)


def reply_chain(llm: LLM) -> Chain:
    options = GenerateOptions(max_tokens=80, temperature=0.0)
    write = PromptStep("write", llm, REPLY, output="reply", options=options)
    return Chain("reply", [write], ["post", "tone"])


def moderation_chain(llm: LLM) -> Chain:
    short = GenerateOptions(max_tokens=4)
    checks = Parallel(
        "checks",
        [
            LabelStep(
                "judge", llm, JUDGE, ["yes", "no"], "model_flag", options=short, default="no"
            ),
            TransformStep("words", has_blocked_words, "word_flag", inputs=["reply"]),
        ],
    )
    rewrite = PromptStep("rewrite", llm, REWRITE, "text", options=GenerateOptions(max_tokens=80))
    keep = TransformStep("keep", lambda reply: reply, "text")
    return Chain(
        "moderate",
        [
            checks,
            TransformStep("decide", decide, "action"),
            Router("apply", {"rewrite": rewrite, "keep": keep}, on="action"),
            TransformStep("mask", mask, "final", inputs=["text"]),
        ],
        ["reply"],
    )


def run(post: str, tone: str, llm: LLM, traces: RunTraces | None = None) -> dict[str, Any]:
    """Write a reply, moderate it; return both runs' outputs and their trace ids."""
    written = reply_chain(llm).invoke({"post": post, "tone": tone}, traces=traces)
    moderated = moderation_chain(llm).invoke({"reply": written.outputs["reply"]}, traces=traces)
    return {
        **written.outputs,
        **moderated.outputs,
        "runs": [written.run_id, moderated.run_id],
    }


def main(argv: list[str] | None = None, llm: LLM | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("post", help="the social media post to reply to")
    parser.add_argument("--tone", default="friendly", help="e.g. friendly, sarcastic, angry")
    parser.add_argument("--llm", default="bundled:smollm2", help="LLM spec")
    parser.add_argument("--home", type=Path, default=Path(".heron"), help="where traces go")
    args = parser.parse_args(argv)
    model = llm or ModelRegistry().llm(args.llm)
    out = run(args.post, args.tone, model, RunTraces(args.home))
    print(f"reply:    {out['reply']}")
    print(f"checks:   model says offensive={out['model_flag']}, blocked words={out['word_flag']}")
    print(f"action:   {out['action']}")
    print(f"final:    {out['final']}")
    print(f"traces:   {' '.join(out['runs'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
