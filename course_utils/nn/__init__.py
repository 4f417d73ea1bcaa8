"""From-scratch attention and a Llama-style GPT, used by lessons 03-04 and their checks."""

from .attention import (
    apply_rope,
    causal_mask,
    merge_heads,
    repeat_kv,
    rope_cos_sin,
    rotate_half,
    scaled_dot_product_attention,
    split_heads,
)
from .gpt import GPT, MLP, Attention, Block, GPTConfig, RMSNorm

__all__ = [
    "scaled_dot_product_attention", "causal_mask", "split_heads", "merge_heads", "repeat_kv",
    "rope_cos_sin", "rotate_half", "apply_rope",
    "GPTConfig", "RMSNorm", "Attention", "MLP", "Block", "GPT",
]
