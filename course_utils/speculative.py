"""Speculative decoding, greedy: a small *draft* model proposes k tokens, the large *target* model checks them all in
one forward pass, and the longest prefix it agrees with is kept, plus the target's own next token. The output is
exactly the target's greedy output; what changes is how many target forward passes it takes.

    out = speculative_greedy(target, draft, ids, max_new_tokens=48, k=4)
    out.tokens == greedy_reference(target, ids, 48)          # identical, by construction
    out.acceptance_rate, out.tokens_per_target_forward       # how well the draft guessed; tokens per big pass
    assisted_greedy(target, draft, ids, 48)                  # transformers' own version (assistant_model=...)

Both models keep a KV cache; a rejected guess is cut from it (``DynamicCache.crop``). Timings compare against
the target's own cached greedy decoding, measured in the same run (``speedup_sweep``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

from course_utils.errors import BadInputError


@dataclass
class SpeculativeResult:
    tokens: list[int]  # the new tokens only
    k: int
    target_forwards: int = 0
    draft_forwards: int = 0
    accepted: list[int] = field(default_factory=list)  # per verification step: draft tokens kept (0 … k)

    @property
    def acceptance_rate(self) -> float:
        """Share of the proposed draft tokens the target kept."""
        proposed = self.k * len(self.accepted)
        return sum(self.accepted) / proposed if proposed else 0.0

    @property
    def tokens_per_target_forward(self) -> float:
        return len(self.tokens) / self.target_forwards if self.target_forwards else 0.0


def check_pair(target_tokenizer, draft_tokenizer) -> None:
    """Token-level drafting needs one vocabulary: the draft's token ids must mean the target's."""
    from course_utils.tokenizer_diff import same_tokenizer

    if not same_tokenizer(target_tokenizer, draft_tokenizer):
        raise BadInputError("the draft and target models use different tokenizers, so the draft's token ids mean "
                            "other text to the target: choose a draft from the same family (e.g. course-small for "
                            "course-large, SmolLM2-135M for SmolLM2-1.7B).")


def _check(input_ids: torch.Tensor, max_new_tokens: int, k: int, model) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise BadInputError(f"k={k!r}: the draft proposes k ≥ 1 tokens per step (try 4).")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise BadInputError(f"max_new_tokens={max_new_tokens!r}: ask for at least 1 new token.")
    if input_ids.ndim != 2 or input_ids.shape[0] != 1 or input_ids.shape[1] == 0:
        raise BadInputError("input_ids must be one non-empty prompt, shape (1, T).")
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and input_ids.shape[1] + max_new_tokens + k > limit:
        raise BadInputError(f"{input_ids.shape[1]} prompt tokens + {max_new_tokens} new + {k} drafted exceed the "
                            f"context of {limit}: shorten the prompt or ask for fewer tokens.")


@torch.no_grad()
def _feed(model, ids: list[int], cache):
    """Run ``ids`` through ``model`` on top of ``cache``; returns the logits (len(ids), V) and the cache."""
    out = model(input_ids=torch.tensor([ids], device=model.device), past_key_values=cache, use_cache=True)
    return out.logits[0].float(), out.past_key_values


def _keep(cache, n: int) -> None:
    """Cut ``cache`` back to its first ``n`` positions. transformers' ``crop`` took the length to keep before
    version 5.2x and takes the number to remove (negative) since; both are handled."""
    import inspect

    remove = cache.get_seq_length() - n
    if remove <= 0:
        return
    if "tokens_to_remove" in inspect.signature(cache.crop).parameters:
        cache.crop(-remove)
    else:
        cache.crop(n)


@torch.no_grad()
def speculative_greedy(target, draft, input_ids: torch.Tensor, max_new_tokens: int = 48, k: int = 4
                       ) -> SpeculativeResult:
    """Greedy speculative decoding of up to ``max_new_tokens`` tokens, stopping after end-of-text as generate does."""
    from transformers import DynamicCache

    _check(input_ids, max_new_tokens, k, target)
    seq = input_ids[0].tolist()
    result = SpeculativeResult([], k)
    # Each cache holds every token of seq but the last, which is "pending": the next forward pass starts with it.
    t_cache, d_cache = DynamicCache(), DynamicCache()
    if len(seq) > 1:
        _, t_cache = _feed(target, seq[:-1], t_cache)
        _, d_cache = _feed(draft, seq[:-1], d_cache)
    eos = target.config.eos_token_id
    eos = set(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])
    n_prompt = len(seq)
    while len(seq) - n_prompt < max_new_tokens and not eos & set(seq[n_prompt:]):
        # 1. draft k tokens, one at a time, feeding whatever of seq the draft's cache lacks
        guesses, todo = [], seq[d_cache.get_seq_length():]
        for _ in range(k):
            logits, d_cache = _feed(draft, todo, d_cache)
            result.draft_forwards += 1
            guesses.append(int(logits[-1].argmax()))
            todo = guesses[-1:]
        # 2. the target scores the pending token and all k guesses in one pass: k + 1 predictions
        logits, t_cache = _feed(target, [seq[-1]] + guesses, t_cache)
        result.target_forwards += 1
        wanted = logits.argmax(-1).tolist()  # wanted[i]: the target's token after seq + guesses[:i]
        n = 0
        while n < k and guesses[n] == wanted[n]:
            n += 1
        result.accepted.append(n)
        seq += guesses[:n] + [wanted[n]]
        # 3. forget what was rejected: both caches keep seq minus its (new) pending last token at most
        _keep(t_cache, len(seq) - 1)
        _keep(d_cache, len(seq) - 1)
    new = seq[n_prompt:n_prompt + max_new_tokens]  # the last step may overshoot by up to k tokens
    stop = next((i for i, t in enumerate(new) if t in eos), None)
    result.tokens = new if stop is None else new[:stop + 1]
    return result


@torch.no_grad()
def greedy_reference(model, input_ids: torch.Tensor, max_new_tokens: int) -> list[int]:
    """The model's own greedy output (transformers' generate, with the cache): what speculation must reproduce."""
    out = model.generate(input_ids.to(model.device), max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=model.config.eos_token_id)
    return out[0, input_ids.shape[1]:].tolist()


@torch.no_grad()
def assisted_greedy(target, draft, input_ids: torch.Tensor, max_new_tokens: int) -> list[int]:
    """transformers' assisted generation (``assistant_model=draft``), greedy: the maintained implementation."""
    from course_utils._quiet_logs import quiet_assistant_note

    with quiet_assistant_note():
        out = target.generate(input_ids.to(target.device), assistant_model=draft, max_new_tokens=max_new_tokens,
                              do_sample=False, pad_token_id=target.config.eos_token_id)
    return out[0, input_ids.shape[1]:].tolist()


def show_steps(result: SpeculativeResult, tokenizer) -> str:
    """The new text step by step: each step's kept draft tokens, then the target's own token in ⟨ ⟩."""
    parts, i = [], 0
    for n in result.accepted:
        kept, own = result.tokens[i:i + n], result.tokens[i + n:i + n + 1]
        parts.append(tokenizer.decode(kept) + (f"⟨{tokenizer.decode(own)}⟩" if own else ""))
        i += n + 1
    return "".join(parts).replace("\n", "⏎")


def predicted_speedup(tokens_per_target_forward: float, k: int, cost_ratio: float) -> float:
    """Wall-clock speedup if each step costs k draft passes and one target pass, and time is all in those passes:
    tokens per target pass ÷ (k · c + 1), with c = one draft pass ÷ one target pass (Leviathan, Kalman & Matias
    2023, "Fast Inference from Transformers via Speculative Decoding", section 3.3, with the measured tokens per
    pass in place of their i.i.d. acceptance model). Below 1, drafting costs more than it saves."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise BadInputError(f"k={k!r}: the draft proposes k ≥ 1 tokens per step.")
    if not 1 <= tokens_per_target_forward <= k + 1:
        raise BadInputError(f"tokens per target pass is between 1 and k + 1 = {k + 1}, got {tokens_per_target_forward}.")
    if not cost_ratio > 0:
        raise BadInputError(f"cost_ratio={cost_ratio!r}: a draft pass takes some time, above 0.")
    return tokens_per_target_forward / (k * cost_ratio + 1)


def from_config_speeds(names, input_ids: torch.Tensor, n_new: int = 16, repeats: int = 2, dtype: str = "bfloat16"
                       ) -> dict[str, float]:
    """Decode tokens/s of catalog models built from their configs (random weights: the speed is real), one at a
    time, each released before the next: at most one of them is in memory. c = target speed ÷ draft speed."""
    from course_utils.loading import load_model, release
    from course_utils.serving import decode_speed

    speeds = {}
    for name in names:
        lm = load_model(name, from_config=True, dtype=dtype)
        speeds[name] = decode_speed(lm.model, input_ids, n_new, repeats=repeats).median
        release(lm)
        del lm
    return speeds


def _seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speedup_sweep(target, draft, prompts: list[torch.Tensor], ks=(1, 2, 4, 8), max_new_tokens: int = 48,
                  repeats: int = 1, progress: bool = False) -> list[dict]:
    """Per k: acceptance rate, tokens per target forward and wall-clock speedup against the target's own greedy
    decoding of the same prompts, timed in the same run (median of ``repeats``; one warm-up first)."""
    if not prompts:
        raise BadInputError("give at least one prompt to measure on.")
    greedy_reference(target, prompts[0], 2)  # warm-up
    baseline = _seconds(lambda: [greedy_reference(target, p, max_new_tokens) for p in prompts], repeats)
    rows = []
    for k in (ks if not progress else _bar(ks)):
        runs = []
        elapsed = _seconds(lambda: runs.append([speculative_greedy(target, draft, p, max_new_tokens, k)
                                                for p in prompts]), repeats)
        last = runs[-1]
        accepted = sum(sum(r.accepted) for r in last)
        proposed = sum(k * len(r.accepted) for r in last)
        rows.append({"k": k, "acceptance": accepted / proposed,
                     "tokens per target forward": sum(len(r.tokens) for r in last) / sum(r.target_forwards for r in last),
                     "seconds": elapsed, "target alone (s)": baseline, "speedup": baseline / elapsed})
    return rows


def plot_sweep(sweeps: dict[str, list[dict]]):
    """Acceptance, tokens per target pass and speedup against k, one line per domain (``speedup_sweep``'s rows)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for name, rows in sweeps.items():
        ks = [r["k"] for r in rows]
        for ax, key in zip(axes, ("acceptance", "tokens per target forward", "speedup")):
            ax.plot(ks, [r[key] for r in rows], "o-", label=name)
    ks = sorted({r["k"] for rows in sweeps.values() for r in rows})
    axes[1].plot(ks, [k + 1 for k in ks], "k:", label="every guess kept (k + 1)")
    axes[2].axhline(1.0, color="k", ls=":", label="the target alone")
    for ax, title in zip(axes, ("share of draft tokens kept", "tokens per target forward pass",
                                "wall-clock speedup")):
        ax.set(xlabel="k (tokens drafted per step)", title=title, xticks=ks)
    axes[0].set_ylim(0, 1.05)
    axes[2].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _bar(items):
    from tqdm.auto import tqdm

    return tqdm(items, desc="k")
