"""What a side's worker thread puts on the run's queue. Only the polling thread reads them."""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TokenEvent:
    """New output of side ``side``: token ids (a local model) or text pieces (an endpoint)."""
    side: int
    tokens: list
    t: float = field(default_factory=time.perf_counter)  # when it arrived


@dataclass(frozen=True)
class UsageEvent:
    """How many tokens an endpoint says it generated (None when it does not say)."""
    side: int
    completion_tokens: int | None
    t: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class ErrorEvent:
    """Why side ``side`` could not go on, in words the learner can act on."""
    side: int
    message: str
    t: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class DoneEvent:
    """The side's worker has finished (after its tokens, and its error if any)."""
    side: int
    t: float = field(default_factory=time.perf_counter)


Event = TokenEvent | UsageEvent | ErrorEvent | DoneEvent
EventQueue = queue.Queue[Event]  # a side's worker puts, the polling thread gets
