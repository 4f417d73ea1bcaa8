"""Self-attention from scratch: scaled dot product, causal mask, heads, grouped-query attention, RoPE.

Tensors use torch's layout: (B, nh, T, hs) = (batch, heads, time, head size).
``scaled_dot_product_attention`` computes the same thing as
``torch.nn.functional.scaled_dot_product_attention`` (tested to 1e-5) and can also return the
attention weights, which the fused torch kernel cannot. RoPE follows the Hugging Face Llama
implementation (``rotate_half`` convention), so weights of Llama-style models load unchanged.
"""

import math

import torch
import torch.nn.functional as F


def causal_mask(T, device=None):
    """Boolean (T, T) mask, True where query i may attend to key j, i.e. j <= i."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def split_heads(x, n_heads):
    """(B, T, C) -> (B, nh, T, hs) with hs = C // nh."""
    B, T, C = x.shape
    if C % n_heads:
        raise ValueError(f"the last dimension ({C}) must be divisible by n_heads ({n_heads})")
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, nh, T, hs)


def merge_heads(x):
    """(B, nh, T, hs) -> (B, T, nh * hs): the inverse of ``split_heads``."""
    B, nh, T, hs = x.shape
    return x.transpose(1, 2).reshape(B, T, nh * hs)  # (B, T, C)


def repeat_kv(x, n_rep):
    """Grouped-query attention: (B, n_kv, T, hs) -> (B, n_kv * n_rep, T, hs).

    Each key/value head is shared by ``n_rep`` consecutive query heads
    (the same as ``x.repeat_interleave(n_rep, dim=1)``).
    """
    if n_rep == 1:
        return x
    B, n_kv, T, hs = x.shape
    x = x[:, :, None, :, :].expand(B, n_kv, n_rep, T, hs)  # (B, n_kv, n_rep, T, hs), no copy yet
    return x.reshape(B, n_kv * n_rep, T, hs)


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None, return_weights=False):
    """softmax(q @ k^T * scale + mask) @ v, with the semantics of torch's fused version.

    q: (B, nh, Tq, hs); k, v: (B, nh, Tk, hs) (use ``repeat_kv`` first for grouped-query attention).
    attn_mask: broadcastable to (B, nh, Tq, Tk); boolean (True = may attend) or float (added to the scores).
    is_causal: query i attends to keys 0..i (top-left aligned, like torch); not combinable with attn_mask.
    scale: defaults to 1 / sqrt(hs).
    Returns y (B, nh, Tq, hs), or (y, weights) with weights (B, nh, Tq, Tk) if return_weights.
    A query row with every key masked gives NaN, as in the torch reference implementation.
    """
    if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
        raise ValueError(f"q, k, v must have the same rank, (B, nh, T, hs); got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if q.size(-1) != k.size(-1) or k.size(-2) != v.size(-2):
        raise ValueError(f"shape mismatch: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}; "
                         "q and k need the same head size, k and v the same length")
    if q.dim() == 4 and not (q.size(1) == k.size(1) == v.size(1)):
        raise ValueError(f"q has {q.size(1)} heads but k/v have {k.size(1)}/{v.size(1)}; "
                         "for grouped-query attention expand k and v with repeat_kv first")
    if is_causal and attn_mask is not None:
        raise ValueError("pass either attn_mask or is_causal=True, not both")
    Tq, Tk = q.size(-2), k.size(-2)
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale

    scores = (q @ k.transpose(-2, -1)) * scale  # (B, nh, Tq, Tk): how well each query matches each key
    if is_causal:
        mask = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
    elif attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    # softmax in float32 so half-precision models stay stable (as Hugging Face's eager attention does)
    weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)  # (B, nh, Tq, Tk), rows sum to 1
    y = weights @ v  # (B, nh, Tq, hs): a weighted average of the values
    return (y, weights) if return_weights else y


def rope_cos_sin(T, head_dim, theta=10000.0, start=0, device=None, dtype=torch.float32):
    """Rotary position embedding tables for positions start..start+T-1: cos, sin, each (T, hs).

    Pair (i, i + hs/2) of a head is rotated by angle pos * theta^(-2i/hs): fast rotations
    for the first pairs, slow ones for the last, so dot products see relative positions.
    """
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head_dim, got {head_dim}")
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim))
    pos = torch.arange(start, start + T, device=device).float()  # (T,)
    freqs = pos[:, None] * inv_freq[None, :]  # (T, hs/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (T, hs): the same angle for both halves of each pair
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, cos, sin):
    """Rotate queries or keys x (B, nh, T, hs) by their position; cos, sin: (T, hs) from rope_cos_sin."""
    return x * cos + rotate_half(x) * sin  # (B, nh, T, hs)
