"""Serving speed: what the KV cache and batching do to generation (lesson 09).

- Without a KV cache, every new token recomputes attention over the whole text so far: its cost grows with its
  position (O(T) per token, O(T²) in all). With the cache, each token costs about the same.
- A batch shares each read of the weights between its sequences: total tokens/s grows with the batch while each
  request waits longer. Prompts of different lengths are padded on the *left* with an attention mask, so every
  sequence's next token comes right after its own last token (right padding would put pad tokens there).

Every measurement here is greedy, so the text is the same whatever the speed settings: the tests check that.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import psutil
import torch

from course_utils.errors import BadInputError, ModelTooLargeError
from course_utils.hardware import Measured
from course_utils.env import human_bytes
from course_utils.measure import cache_tensor_bytes, kv_cache_bytes, time_generation


def _fixed_length(model, n_new: int) -> dict:
    """Greedy decoding of exactly ``n_new`` tokens (no early stop), so runs are comparable."""
    return dict(max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False,
                pad_token_id=model.config.eos_token_id if model.config.pad_token_id is None else model.config.pad_token_id)


def _check_length(model, prompt_tokens: int, n_new: int) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and prompt_tokens + n_new > limit:
        raise BadInputError(f"{prompt_tokens} prompt tokens + {n_new} new ones exceed this model's context of {limit} "
                            f"tokens: ask for at most {max(limit - prompt_tokens, 0)} new tokens or shorten the prompt.")


def per_token_seconds(model, input_ids: torch.Tensor, n_new: int = 64, *, use_cache: bool = True
                      ) -> tuple[torch.Tensor, list[float]]:
    """Generate ``n_new`` tokens; returns (output ids, seconds each token took after the previous one)."""
    if n_new < 2:
        raise BadInputError("per_token_seconds needs n_new >= 2 (the first token is the prompt's, prefill)")
    _check_length(model, input_ids.shape[1], n_new)
    input_ids = input_ids.to(model.device)
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
    longest = max(len(ids) for ids in tokenizer(prompts)["input_ids"])
    _check_length(model, longest, n_new)
    guard_batch(model, min(batch, len(prompts)), longest + n_new)
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


def _median(values: list[float], unit: str) -> Measured:
    return Measured(statistics.median(values), min(values), max(values), unit, len(values))


def decode_speed(model, input_ids: torch.Tensor, n_new: int = 32, *, repeats: int = 3) -> Measured:
    """Decode tokens/s of one sequence (tokens after the first, with the KV cache): the median of ``repeats``
    greedy runs after one warm-up run."""
    if repeats < 1 or n_new < 2:
        raise BadInputError("decode_speed needs repeats >= 1 and n_new >= 2")
    _check_length(model, input_ids.shape[1], n_new)
    input_ids, kwargs = input_ids.to(model.device), _fixed_length(model, n_new)
    time_generation(model, input_ids, **{**kwargs, "max_new_tokens": 2, "min_new_tokens": 2})  # warm up
    return _median([time_generation(model, input_ids, **kwargs)[1].tokens_per_s for _ in range(repeats)], "tokens/s")


@torch.no_grad()
def prefill_speed(model, input_ids: torch.Tensor, *, repeats: int = 3) -> Measured:
    """Prompt tokens/s: one forward pass over the whole prompt (what a chat's first token waits for)."""
    if repeats < 1:
        raise BadInputError("prefill_speed needs repeats >= 1")
    _check_length(model, input_ids.shape[1], 0)
    input_ids = input_ids.to(model.device)
    sync = torch.cuda.synchronize if input_ids.is_cuda else (lambda: None)  # GPU work is asynchronous
    model(input_ids=input_ids)  # warm up
    rates = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        model(input_ids=input_ids)
        sync()
        rates.append(input_ids.numel() / (time.perf_counter() - start))
    return _median(rates, "tokens/s")


def cache_bytes_formula(model, seq_len: int, batch: int = 1) -> int:
    """Lesson 05's formula for this model's KV cache: 2 · layers · kv heads · head dim · tokens · batch · bytes."""
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    kv_heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    return kv_cache_bytes(n_layers=c.num_hidden_layers, kv_heads=kv_heads, head_dim=head_dim, seq_len=seq_len,
                          batch=batch, bytes_per_value=next(model.parameters()).element_size())


@torch.no_grad()
def generated_cache_bytes(model, input_ids: torch.Tensor, n_new: int = 32) -> tuple[int, int]:
    """(bytes of the cache a real ``generate`` call holds at the end, tokens it covers)."""
    _check_length(model, input_ids.shape[1], n_new)
    out = model.generate(input_ids.to(model.device), **_fixed_length(model, n_new), return_dict_in_generate=True)
    # the last new token is returned but never fed back, so the cache holds one token fewer than the output
    return cache_tensor_bytes(out.past_key_values), out.sequences.shape[1] - 1


def guard_batch(model, batch: int, seq_len: int, available_bytes: int | None = None) -> None:
    """Refuse a batch whose KV cache alone would not fit in the memory that is free now."""
    need = cache_bytes_formula(model, seq_len, batch)
    free = psutil.virtual_memory().available if available_bytes is None else available_bytes
    if need > 0.8 * free:
        raise ModelTooLargeError(f"A batch of {batch} × {seq_len} tokens needs {human_bytes(need)} of KV cache, more "
                                 f"than this machine can spare ({human_bytes(free)} free): use a smaller batch "
                                 f"(at most {max(1, int(0.8 * free // max(need // batch, 1)))}) or fewer tokens.")


def batch_sweep(model, tokenizer, prompts: list[str], batches=(1, 2, 4, 8, 16, 32), n_new: int = 32,
                *, repeats: int = 3) -> list[BatchSpeed]:
    """For each batch size b, serve the first b prompts as one batch ``repeats`` times (median): total tokens/s
    and each request's wait. The first batch is run once beforehand as a warm-up."""
    if repeats < 1 or not batches or min(batches) < 1:
        raise BadInputError("batch_sweep needs batch sizes of at least 1 and repeats >= 1")
    if max(batches) > len(prompts):
        raise BadInputError(f"batch sizes up to {max(batches)} need as many prompts; got {len(prompts)}.")
    batch_speed(model, tokenizer, prompts[:batches[0]], batches[0], n_new=2)  # warm up
    rows = []
    for b in batches:
        runs = [batch_speed(model, tokenizer, prompts[:b], b, n_new) for _ in range(repeats)]
        mid = sorted(runs, key=lambda r: r.tokens_per_s)[len(runs) // 2]
        rows.append(mid)
    return rows


def plot_cache_timing(cached: list[float], uncached: list[float], first_position: int, ax=None):
    """Milliseconds per generated token against its position, with and without the KV cache."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    for gaps, label in ((uncached, "no cache: recompute the whole text"), (cached, "KV cache: one new token")):
        ax.plot(range(first_position + 1, first_position + 1 + len(gaps)), [g * 1000 for g in gaps], label=label)
    ax.set(xlabel="position of the generated token", ylabel="ms per token", title="What the KV cache saves")
    ax.legend()
    return ax


def plot_batch_sweep(rows: list[BatchSpeed], label: str = "", axes=None):
    """Total tokens/s and each request's wait against batch size (log-2 x axis)."""
    import matplotlib.pyplot as plt

    axes = axes if axes is not None else plt.subplots(1, 2, figsize=(10, 3.5))[1]
    sizes = [r.batch for r in rows]
    axes[0].plot(sizes, [r.tokens_per_s for r in rows], "o-", label=label or None)
    axes[1].plot(sizes, [r.seconds_per_request for r in rows], "o-", label=label or None)
    axes[0].set(xscale="log", xlabel="batch size", ylabel="tokens/s, all requests", title="Throughput")
    axes[1].set(xscale="log", xlabel="batch size", ylabel="seconds per request", title="Latency")
    for ax in axes:
        ax.set_xticks(sizes, [str(s) for s in sizes])
        if label:
            ax.legend()
    return axes
