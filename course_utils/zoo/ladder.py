"""The course-model ladder: four Llama-architecture decoders of increasing size."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True, kw_only=True)
class LadderSpec:
    """Architecture and training budget of one course model (the hub catalog's entries are
    ``course_utils.catalog.ModelSpec``; this is the recipe of a model the course trains itself)."""

    name: str
    n_layers: int
    hidden: int
    heads: int
    mlp: int
    train_tokens: int          # tokens seen in training (a fixed budget, so builds are reproducible)
    lr: float
    kv_heads: int | None = None
    context: int = 256
    batch_size: int = 32       # sequences of `context` tokens per step: large matmuls, steady gradients
    warmup_steps: int = 20
    decay_fraction: float = 0.15  # warmup-stable-decay: the last 15% of the steps decay the rate linearly
    doc_start_fraction: float = 0.5  # share of windows that start at a document start; the rest anywhere
    grid_points: int = 8       # validation loss at this many log-spaced budgets (the scaling grid)
    seed: int = 0
    threads: int = 2           # torch threads: both cores of the 2-core machine the build is sized for
    precision: str = "auto"    # bfloat16 autocast where this CPU runs it faster than float32 (AMX), else float32

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context

    @property
    def steps(self) -> int:
        return max(1, self.train_tokens // self.tokens_per_step)

    def grid_steps(self) -> list[int]:
        """The budgets (in steps) of the scaling grid: log-spaced from 1/64 of the run (at least 25
        steps, so a fork's decay starts after the warmup) to the whole run, which is the last point."""
        lo = max(25, self.steps // 64)
        if self.steps <= lo:
            return [self.steps]
        k = self.grid_points
        pts = sorted({round(math.exp(math.log(lo) + (math.log(self.steps) - math.log(lo)) * i / (k - 1)))
                      for i in range(k)})
        return pts

    def to_dict(self) -> dict:
        return asdict(self)


# Token budgets are set by what a 2-core CPU without AMX (where bfloat16 is ~60x slower than float32,
# so the loop trains in float32) could train in the hour and a quarter this build had (docs/zoo.md).
# The course's target for course-large is 15M tokens: `--token-scale 6` on a GPU or an AMX CPU.
LADDER = [
    LadderSpec(name="course-tiny", n_layers=2, hidden=48, heads=2, mlp=128, train_tokens=1_400_000, lr=4e-3),
    LadderSpec(name="course-small", n_layers=4, hidden=128, heads=4, mlp=352, train_tokens=1_400_000, lr=3e-3),
    LadderSpec(name="course-medium", n_layers=6, hidden=224, heads=4, mlp=608, train_tokens=2_200_000, lr=2.5e-3),
    LadderSpec(name="course-large", n_layers=8, hidden=256, heads=4, mlp=688, train_tokens=2_500_000, lr=2e-3),
]
SLM, LLM = "course-small", "course-large"  # the aliases course-slm and course-llm


def llama_config(spec: LadderSpec, vocab_size: int, bos: int, eos: int, pad: int):
    """A standard ``LlamaConfig`` (RMSNorm, RoPE, SwiGLU, no biases, tied embeddings)."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, hidden_size=spec.hidden, intermediate_size=spec.mlp,
                       num_hidden_layers=spec.n_layers, num_attention_heads=spec.heads,
                       num_key_value_heads=spec.kv_heads or spec.heads, head_dim=spec.head_dim,
                       max_position_embeddings=spec.context, rms_norm_eps=1e-5, rope_theta=10000.0,
                       hidden_act="silu", attention_bias=False, mlp_bias=False, tie_word_embeddings=True,
                       bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, initializer_range=0.02)
