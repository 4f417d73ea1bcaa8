"""Lesson 04 checks: accept a right answer, reject a stub and typical wrong answers with a message."""

import pytest
import torch
from check_verdicts import assert_verdicts
import torch.nn as nn
import torch.nn.functional as F

from course_utils.checks import lesson04 as c
from course_utils.nn import apply_rope, repeat_kv, scaled_dot_product_attention


def right_count(cfg):
    C, hs, V = cfg.n_embd, cfg.head_dim, cfg.vocab_size
    attn = C * hs * (2 * cfg.n_head + 2 * cfg.n_kv_head)
    mlp = 3 * C * cfg.intermediate_size
    per_layer = attn + mlp + 2 * C
    return V * C + cfg.n_layer * per_layer + C + (0 if cfg.tie_embeddings else V * C)


def right_rms_norm(x, weight, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def right_swiglu(x, w_gate, w_up, w_down):
    return (F.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T


def attention_from_projections(a, h, cos, sin):
    B, T, C = h.shape
    q = (h @ a.q_proj.weight.T).view(B, T, a.n_head, a.head_dim).transpose(1, 2)
    k = (h @ a.k_proj.weight.T).view(B, T, a.n_kv_head, a.head_dim).transpose(1, 2)
    v = (h @ a.v_proj.weight.T).view(B, T, a.n_kv_head, a.head_dim).transpose(1, 2)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    n_rep = a.n_head // a.n_kv_head
    y = scaled_dot_product_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep), is_causal=True)
    return a.o_proj(y.transpose(1, 2).reshape(B, T, -1))


def block_variant(first_residual=True, norms=True):
    def block_fn(block, x, cos, sin):
        n1, n2 = (block.attn_norm, block.mlp_norm) if norms else (nn.Identity(), nn.Identity())
        a = attention_from_projections(block.attn, n1(x), cos, sin)
        h = x + a if first_residual else a
        return h + block.mlp(n2(h))
    return block_fn


right_block = block_variant()


CASES = {
    "count": (c.check_count_params, right_count, [
        (lambda cfg: right_count(cfg) + (cfg.vocab_size * cfg.n_embd if cfg.tie_embeddings else 0), "count it once"),
        (lambda cfg: right_count(cfg) - (0 if cfg.tie_embeddings else cfg.vocab_size * cfg.n_embd), "second V x C"),
        (lambda cfg: right_count(cfg) + 2 * cfg.n_layer * cfg.n_embd * cfg.head_dim * (cfg.n_head - cfg.n_kv_head),
         "n_kv_head heads"),
        (lambda cfg: right_count(cfg) - cfg.n_embd, "per layer"),
    ]),
    "rms_norm": (c.check_rms_norm, right_rms_norm, [
        (lambda x, w, eps=1e-6: F.layer_norm(x, x.shape[-1:], w, eps=eps), "LayerNorm"),
        (lambda x, w, eps=1e-6: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps), "weight is not applied"),
        (lambda x, w, eps=1e-6: x / x.pow(2).mean(-1, keepdim=True).sqrt() * w, "zero vector"),
        (lambda x, w, eps=1e-6: x / x.norm(dim=-1, keepdim=True) * w, "rms_norm(x, weight)"),
    ]),
    "swiglu": (c.check_swiglu, right_swiglu, [
        (lambda x, g, u, d: right_swiglu(x, u, g, d), "swapped"),
        (lambda x, g, u, d: (torch.relu(x @ g.T) * (x @ u.T)) @ d.T, "ReLU"),
        (lambda x, g, u, d: (F.silu(x @ g.T) * (x @ u.T)), "wrong shape"),  # (B, T, I): no down projection
    ]),
    "block": (c.check_block_forward, right_block, [
        (lambda block, x, cos, sin: x + block.attn(block.attn_norm(x), cos, sin)[0], "block.attn(...) was called"),
        (block_variant(first_residual=False), "first residual"),
        (block_variant(norms=False), "norms are skipped"),
        (lambda block, x, cos, sin: (right_block(block, x, cos, sin), None), "not a tuple"),
        (lambda block, x, cos, sin: right_block(block, x, cos * 0 + 1, sin * 0), "block output"),  # no RoPE
    ]),
}


@pytest.mark.parametrize("name, i", [(n, i) for n in CASES for i in range(len(CASES[n][2]))])
def test_accepts_right_waits_for_stub_rejects_wrong_with_message(name, i, capsys):
    check, right, wrongs = CASES[name]
    wrong, message = wrongs[i]
    assert_verdicts(check, right, wrong, message, capsys)


def test_the_true_count_matches_the_model_and_shares_the_tied_matrix():
    from course_utils.nn import GPT, GPTConfig

    cfg = GPTConfig()
    assert c.true_parameter_count(cfg) == sum(p.numel() for p in GPT(cfg).parameters()) == right_count(cfg)
