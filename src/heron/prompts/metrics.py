"""Scores of one model output against the expected answer, for prompt comparison.

A metric is any ``(prediction, reference) -> float`` with higher better. The
named ones, usable as ``metric="exact_label"`` in ``compare_prompts``:

* ``exact_label``: the first line of the reply, lower-cased and stripped of
  surrounding punctuation, quotes and an echoed ``Label:`` prefix, equals the
  reference treated the same way ("Positive." matches "positive");
* ``exact``: the stripped reply equals the stripped reference;
* ``contains``: the reference appears in the reply as a whole word (any case).

``first_label(labels)`` builds a metric for replies that wrap the label in a
sentence: the label of ``labels`` named first in the reply must be the reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from heron.errors import InputError

Metric = Callable[[str, str], float]

_EDGE = re.compile(r"^[\s\"'`*_.,;:!?()\[\]<>-]+|[\s\"'`*_.,;:!?()\[\]<>-]+$")
_PREFIX = re.compile(r"^[a-z _-]{1,20}:\s*")


def normalise_label(text: str) -> str:
    """First non-empty line, lower case, no edge punctuation, no ``Label:`` prefix."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    first = lines[0].casefold() if lines else ""
    first = _EDGE.sub("", first)
    first = _PREFIX.sub("", first)
    return " ".join(_EDGE.sub("", first).split())


def exact_label(prediction: str, reference: str) -> float:
    return float(normalise_label(prediction) == normalise_label(reference))


def exact(prediction: str, reference: str) -> float:
    return float(prediction.strip() == reference.strip())


def contains(prediction: str, reference: str) -> float:
    ref = reference.strip()
    if not ref:
        return 0.0
    pattern = rf"(?<!\w){re.escape(ref)}(?!\w)"
    return float(re.search(pattern, prediction, re.IGNORECASE) is not None)


def first_label(labels: Sequence[str]) -> Metric:
    """A metric: the first of ``labels`` named in the reply is the reference."""
    if not labels or len(set(labels)) != len(labels):
        raise InputError("first_label needs a non-empty list of distinct labels")
    patterns = {
        label: re.compile(rf"(?<!\w){re.escape(label)}(?!\w)", re.IGNORECASE) for label in labels
    }

    def score(prediction: str, reference: str) -> float:
        positions = {
            label: match.start()
            for label, pattern in patterns.items()
            if (match := pattern.search(prediction))
        }
        if not positions:
            return 0.0
        named = min(positions, key=lambda label: positions[label])
        return float(normalise_label(named) == normalise_label(reference))

    score.__name__ = f"first_label({', '.join(labels)})"
    return score


NAMED: Mapping[str, Metric] = {"exact_label": exact_label, "exact": exact, "contains": contains}


def resolve_metric(metric: Metric | str) -> tuple[str, Metric]:
    """A metric and its display name, from a name or a callable."""
    if isinstance(metric, str):
        if metric not in NAMED:
            raise InputError(
                f"unknown metric '{metric}'",
                hint=f"use one of {', '.join(NAMED)}, "
                "or pass a function (prediction, reference) -> float",
            )
        return metric, NAMED[metric]
    if not callable(metric):
        raise InputError(f"the metric must be a name or a function, got {type(metric).__name__}")
    return getattr(metric, "__name__", "custom"), metric
