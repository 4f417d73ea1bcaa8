"""The course-model ladder: four Llama-architecture decoders of increasing size."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelSpec:
    """Architecture and training budget of one course model."""

    name: str
    n_layers: int
    hidden: int
    heads: int
    mlp: int
    train_tokens: int          # tokens seen in training (a fixed budget, so builds are reproducible)
    lr: float
    kv_heads: int | None = None
    context: int = 256
    batch_size: int = 8        # sequences of `context` tokens per step
    warmup_steps: int = 30
    seed: int = 0
    threads: int = 1           # torch threads: on a shared 2-core machine one thread per model is steadier

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context

    @property
    def steps(self) -> int:
        return max(1, self.train_tokens // self.tokens_per_step)

    def to_dict(self) -> dict:
        return asdict(self)


# Training budgets grow with size, as in real model ladders. Measured on this corpus (docs/zoo.md):
# at ~1M tokens every model from 1M to 10M parameters reaches about the same loss - the loss is set
# by the tokens seen, and none has yet learned to copy names from earlier in a document. Equal
# budgets gave course-medium (1.0M tokens) 0.2055 bits/char vs course-small (1.2M tokens) 0.2044.
LADDER = [
    ModelSpec("course-tiny", n_layers=2, hidden=48, heads=2, mlp=128, train_tokens=400_000, lr=4e-3),
    ModelSpec("course-small", n_layers=4, hidden=128, heads=4, mlp=352, train_tokens=700_000, lr=3e-3),
    ModelSpec("course-medium", n_layers=6, hidden=224, heads=4, mlp=608, train_tokens=1_000_000, lr=2e-3),
    ModelSpec("course-large", n_layers=8, hidden=320, heads=5, mlp=864, train_tokens=1_400_000, lr=1.5e-3),
]
SLM, LLM = "course-small", "course-large"  # the aliases course-slm and course-llm


def llama_config(spec: ModelSpec, vocab_size: int, bos: int, eos: int, pad: int):
    """A standard ``LlamaConfig`` (RMSNorm, RoPE, SwiGLU, no biases, tied embeddings)."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, hidden_size=spec.hidden, intermediate_size=spec.mlp,
                       num_hidden_layers=spec.n_layers, num_attention_heads=spec.heads,
                       num_key_value_heads=spec.kv_heads or spec.heads, head_dim=spec.head_dim,
                       max_position_embeddings=spec.context, rms_norm_eps=1e-5, rope_theta=10000.0,
                       hidden_act="silu", attention_bias=False, mlp_bias=False, tie_word_embeddings=True,
                       bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, initializer_range=0.02)
