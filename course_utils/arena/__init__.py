"""The arena engine: two models answer the same prompt side by side, streamed and measured.

    side = LocalSide(load_model("course-slm"))       # or RemoteSide(Endpoint(...))
    run = ArenaRun([small, large], "Once upon a time", GenerationSettings(max_new_tokens=40))
    run.start(); run.wait()                          # or `await run.pump()` inside a kernel
    run.results[0].text, run.results[0].timing.tokens_per_s

One idea per module:

- ``sides``: what answers a prompt (a local model, an OpenAI-compatible endpoint, a stand-in that
  says why a model is missing), all behind the :class:`Side` protocol, with FLOPs per token;
- ``events``: the typed events a side's worker puts on the run's queue;
- ``run``: :class:`ArenaRun`, the side-by-side run (worker threads, one queue, a stop event);
- ``next_token``: both models' next-token distributions aligned by decoded text, with KL;
- ``batch``: the shipped prompt set through every side, scored and summarised;
- :class:`CostAssumptions` (from course_utils.cost): cost per 1,000 tokens from visible assumptions.

Each local side samples from its own ``torch.Generator`` seeded with the settings' seed: seeded
runs repeat exactly, even with both sides at once, and the learner's global random state is left
alone. The engine draws nothing: the HTML and the plots live in course_utils.widgets.arena.
"""

from course_utils.arena.batch import (CATEGORIES, PROMPTS_PATH, BatchResult, BatchRow, course_world_prompts,
                                      load_prompts, run_batch, score_answer, words)
from course_utils.arena.events import DoneEvent, ErrorEvent, Event, TokenEvent, UsageEvent
from course_utils.arena.next_token import (KL_FLOOR, OTHER, NextTokenComparison, align_by_text,
                                           compare_next_token, kl_divergence_bits, text_distribution,
                                           vocab_texts)
from course_utils.arena.run import SCHEDULES, ArenaRun, SideResult
from course_utils.arena.sides import LocalSide, RemoteSide, Side, SideInfo, UnavailableSide
from course_utils.cost import CostAssumptions

__all__ = [
    "ArenaRun", "BatchResult", "BatchRow", "CATEGORIES", "CostAssumptions", "DoneEvent", "ErrorEvent", "Event",
    "KL_FLOOR", "LocalSide", "NextTokenComparison", "OTHER", "PROMPTS_PATH", "RemoteSide", "SCHEDULES", "Side",
    "SideInfo", "SideResult", "TokenEvent", "UnavailableSide", "UsageEvent", "align_by_text", "compare_next_token",
    "course_world_prompts", "kl_divergence_bits", "load_prompts", "run_batch", "score_answer", "text_distribution",
    "vocab_texts", "words",
]
