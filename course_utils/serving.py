"""Serving speed: what the KV cache and batching do to generation (lesson 09).

- Without a KV cache, every new token recomputes attention over the whole text so far: its cost grows with its
  position (O(T) per token, O(T²) in all). With the cache, each token costs about the same.
- A batch shares each read of the weights between its sequences: total tokens/s grows with the batch while each
  request waits longer. Prompts of different lengths are padded on the *left* with an attention mask, so every
  sequence's next token comes right after its own last token (right padding would put pad tokens there).

Every measurement here is greedy, so the text is the same whatever the speed settings: the tests check that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from course_utils.errors import BadInputError
from course_utils.measure import time_generation


def _fixed_length(model, n_new: int) -> dict:
    """Greedy decoding of exactly ``n_new`` tokens (no early stop), so runs are comparable."""
    return dict(max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False,
                pad_token_id=model.config.eos_token_id if model.config.pad_token_id is None else model.config.pad_token_id)


def per_token_seconds(model, input_ids: torch.Tensor, n_new: int = 64, *, use_cache: bool = True
                      ) -> tuple[torch.Tensor, list[float]]:
    """Generate ``n_new`` tokens; returns (output ids, seconds each token took after the previous one)."""
    if n_new < 2:
        raise BadInputError("per_token_seconds needs n_new >= 2 (the first token is the prompt's, prefill)")
    out, timing = time_generation(model, input_ids, **_fixed_length(model, n_new), use_cache=use_cache)
    arrivals = timing.arrivals_s
    return out, [b - a for a, b in zip(arrivals, arrivals[1:])]


@dataclass(frozen=True)
class BatchSpeed:
    """One batch size's serving figures."""

    batch: int
    tokens_per_s: float  # new tokens of all requests together, per second
    seconds_per_request: float  # how long each request waited for its answer
    outputs: list[list[int]]  # each request's new token ids (for checking that batching changed nothing)


@torch.no_grad()
def batch_speed(model, tokenizer, prompts: list[str], batch: int, n_new: int = 32) -> BatchSpeed:
    """Serve ``prompts`` in batches of ``batch`` (left-padded, with the attention mask)."""
    if batch < 1 or not prompts:
        raise BadInputError("batch_speed needs at least one prompt and a batch of at least 1")
    if tokenizer.pad_token_id is None:
        raise BadInputError("this tokenizer has no padding token: set tokenizer.pad_token (e.g. to its eos token)")
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    outputs, elapsed, waits = [], 0.0, []
    try:
        for i in range(0, len(prompts), batch):
            enc = tokenizer(prompts[i:i + batch], return_tensors="pt", padding=True).to(model.device)
            start = time.perf_counter()
            out = model.generate(**enc, **_fixed_length(model, n_new))
            took = time.perf_counter() - start
            elapsed += took
            waits += [took] * enc["input_ids"].shape[0]
            outputs += out[:, enc["input_ids"].shape[1]:].tolist()
    finally:
        tokenizer.padding_side = side
    return BatchSpeed(batch, len(prompts) * n_new / elapsed, sum(waits) / len(waits), outputs)
