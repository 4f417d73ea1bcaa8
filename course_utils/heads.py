"""A census of attention heads: previous-token, induction and first-token ("sink") heads.

The probe is a batch of random token sequences repeated twice, ``<s> r1 … rP r1 … rP``. Random
tokens carry no grammar, so a head can only score by its mechanism:
- previous-token: at position t it attends to t-1;
- induction: in the second copy it attends to the token *after* the earlier occurrence of the
  current token (t-P+1), the head that lets a model copy what came next last time;
- first-token: it puts its attention on position 0, a resting place when there is nothing to do.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

THRESHOLDS = {"previous-token": 0.5, "induction": 0.3, "first-token": 0.5}


def repeated_random_tokens(vocab_size: int, period: int = 40, batch: int = 8, bos: int | None = 1,
                           low: int = 3, seed: int = 0) -> torch.Tensor:
    """(batch, 1 + 2·period) ids: [bos] + r + r with r uniform in [low, vocab_size)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.randint(low, vocab_size, (batch, period), generator=g)
    start = torch.full((batch, 1), bos if bos is not None else low, dtype=torch.long)
    return torch.cat([start, r, r], dim=1)


@contextmanager
def eager_attention(model):
    """Temporarily switch a transformers model to eager attention, the one that can return its weights
    (SDPA and FlashAttention never build the (T, T) matrix)."""
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    switch = impl not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if switch:
        model.set_attn_implementation("eager")
    try:
        yield model
    finally:
        if switch:
            model.set_attn_implementation(impl)


@torch.no_grad()
def attention_patterns(model, input_ids: torch.Tensor) -> list[torch.Tensor]:
    """Attention weights of every layer of a transformers causal LM: a list of (B, H, T, T), float32 on the CPU."""
    with eager_attention(model):
        out = model(input_ids=input_ids.to(model.device), output_attentions=True)
    if not out.attentions:
        raise RuntimeError(f"{type(model).__name__} did not return attention weights")
    return [a.float().cpu() for a in out.attentions]


PREVIOUS_TOKEN_START = 2  # position 1's previous token is <s>, where resting ("sink") heads look anyway


def previous_token_score(pattern: torch.Tensor, start: int = PREVIOUS_TOKEN_START) -> torch.Tensor:
    """Mean attention from t to t-1 over positions t = 2 … T-1: (..., H, T, T) -> (..., H)."""
    T = pattern.shape[-1]
    t = torch.arange(start, T)
    return pattern[..., t, t - 1].mean(-1)


def induction_score(pattern: torch.Tensor, period: int) -> torch.Tensor:
    """Mean attention from t to t-period+1 over the second copy (t = period+1 … 2·period)."""
    t = torch.arange(period + 1, 2 * period + 1)
    return pattern[..., t, t - period + 1].mean(-1)


def first_token_score(pattern: torch.Tensor, start: int = 4) -> torch.Tensor:
    """Mean attention on position 0 from positions t >= start."""
    return pattern[..., start:, 0].mean(-1)


def repeated_segments(token_lists: list[list[int]], period: int, bos: int) -> torch.Tensor:
    """(B, 1 + 2·period) ids: [bos] + s + s for the first ``period`` tokens of each list long enough.
    With real text instead of random tokens, the probe stays close to what the model was trained on."""
    segs = [t[:period] for t in token_lists if len(t) >= period]
    if not segs:
        raise ValueError(f"no text has {period} tokens; use a shorter period")
    s = torch.tensor(segs)
    return torch.cat([torch.full((len(segs), 1), bos, dtype=torch.long), s, s], dim=1)


def uniform_scores(period: int) -> dict[str, float]:
    """The scores of a head that spreads its attention evenly over the past: the chance level."""
    T = 1 + 2 * period
    mask = torch.ones(T, T).tril()
    u = mask / mask.sum(-1, keepdim=True)
    return {"previous-token": float(previous_token_score(u)), "induction": float(induction_score(u, period)),
            "first-token": float(first_token_score(u))}


@dataclass
class HeadScores:
    """Scores of each head, (n_layers, n_heads), averaged over the batch."""

    model: str
    previous_token: torch.Tensor
    induction: torch.Tensor
    first_token: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {"previous-token": self.previous_token, "induction": self.induction, "first-token": self.first_token}


def head_scores(model, input_ids: torch.Tensor, period: int, name: str = "") -> HeadScores:
    patterns = attention_patterns(model, input_ids)  # n_layers x (B, H, T, T)
    per_layer = [(previous_token_score(p).mean(0), induction_score(p, period).mean(0), first_token_score(p).mean(0))
                 for p in patterns]
    prev, ind, first = (torch.stack(x) for x in zip(*per_layer))  # each (L, H)
    return HeadScores(name or type(model).__name__, prev, ind, first)


def census(scores: HeadScores, thresholds: dict[str, float] = THRESHOLDS) -> dict:
    """How many heads pass each type's threshold (a head may count as several types)."""
    out = {"model": scores.model, "heads": scores.previous_token.numel()}
    for kind, s in scores.as_dict().items():
        out[kind] = int((s >= thresholds[kind]).sum())
        out[f"best {kind} score"] = round(float(s.max()), 3)
    return out


@torch.no_grad()
def repeat_loss(model, input_ids: torch.Tensor, period: int) -> tuple[float, float]:
    """Mean loss (nats) on the first copy and on the second: induction heads make the second easy."""
    logits = model(input_ids=input_ids).logits.float()                      # (B, T, V)
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), input_ids[:, 1:],
                                            reduction="none")              # (B, T-1)
    # predicting tokens 2..P of the first copy, then 2..P of the second (its first token follows
    # rP, which has not been seen before, so it cannot be copied)
    first, second = nll[:, 1:period], nll[:, period + 1:]
    return float(first.mean()), float(second.mean())


def induction_control(period: int = 16, vocab_size: int = 64, steps: int = 400, seed: int = 0,
                      progress: bool = False):
    """The census's positive control: a 2-layer Llama trained in seconds on a pure copy task,
    ``<s> r1 … rP r1 … rP`` with fresh random tokens every time. The second copy can only be predicted
    by looking back to the token after the current token's earlier occurrence — so if training
    succeeds, the model must contain an induction head, and the census should find it.
    Returns (model, History)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from course_utils.training import TrainConfig, train

    T = 1 + 2 * period
    g = torch.Generator().manual_seed(seed)
    docs = repeated_random_tokens(vocab_size, period=period, batch=4000, bos=1, low=3, seed=seed)  # (4000, T)
    stream = docs.flatten()
    starts = torch.arange(0, len(stream), T)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2 * T,
                         bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    model = LlamaForCausalLM(config)
    cfg = TrainConfig(steps=steps, batch_size=32, block_size=T, lr=3e-3, warmup_steps=20, schedule="cosine",
                      eval_every=steps, seed=seed, doc_start_fraction=1.0, threads=None)
    hist = train(model, stream[: len(stream) - T], None, cfg, doc_starts=starts[:-2], progress=progress)
    return model.eval(), hist


def plot_head_scores(all_scores: list[HeadScores], thresholds: dict[str, float] = THRESHOLDS):
    """A heatmap (layer x head) per model and score type, marking heads over the threshold."""
    import matplotlib.pyplot as plt

    kinds = list(thresholds)
    fig, axes = plt.subplots(len(all_scores), len(kinds), figsize=(3.4 * len(kinds), 2.8 * len(all_scores)),
                             squeeze=False, constrained_layout=True)
    for row, s in zip(axes, all_scores):
        for ax, kind in zip(row, kinds):
            values = s.as_dict()[kind]
            im = ax.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
            for layer, head in (values >= thresholds[kind]).nonzero().tolist():
                ax.text(head, layer, "●", ha="center", va="center", color="white", fontsize=8)
            ax.set_title(f"{s.model}: {kind}", fontsize=9)
            ax.set_xlabel("head")
            ax.set_ylabel("layer")
    fig.colorbar(im, ax=axes, shrink=0.8)
    return fig


def plot_census(rows: list[dict], title: str = ""):
    """Fraction of heads of each type, per model (``rows`` from :func:`census`)."""
    import matplotlib.pyplot as plt

    kinds = list(THRESHOLDS)
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.8 / len(rows)
    for k, row in enumerate(rows):
        ax.bar([i + k * width for i in range(len(kinds))], [row[kind] / row["heads"] for kind in kinds], width,
               label=f"{row['model']} ({row['heads']} heads)")
    ax.set_xticks([i + width * (len(rows) - 1) / 2 for i in range(len(kinds))], kinds)
    ax.set_ylabel("fraction of heads")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
