"""Generation deadlines: the clock a backend checks between tokens.

``GenerateOptions.max_time_s`` bounds one ``generate`` (or ``stream``) call in
wall-clock seconds, counted from the moment the call starts (waiting for the
model's lock and reading the prompt included). Each backend checks its
``Deadline`` after every generated token (or streamed event) and, once it has
passed, stops the generation itself and returns the text so far with
``finish_reason == "time"``: the model is stopped, not abandoned, so it frees
its CPU (or closes its connection) right away. A deadline never raises; a caller
that needs an exception checks ``finish_reason`` (see ``FINISH_TIME``).

Left out: interrupting the evaluation of a long prompt (llama.cpp and torch run
it as one uninterruptible call), so the first check comes after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

#: ``Completion.finish_reason`` of a generation stopped by its deadline
FINISH_TIME = "time"

Clock = Callable[[], float]


@dataclass(frozen=True)
class Deadline:
    """A point on a monotonic clock after which generation must stop."""

    at: float
    clock: Clock = time.monotonic

    @classmethod
    def start(cls, max_time_s: float | None, clock: Clock = time.monotonic) -> Deadline | None:
        """The deadline ``max_time_s`` from now, or ``None`` when there is no limit."""
        if max_time_s is None:
            return None
        return cls(clock() + max_time_s, clock)

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - self.clock()

    def expired(self) -> bool:
        return self.clock() >= self.at
