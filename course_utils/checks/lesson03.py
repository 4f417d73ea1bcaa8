"""Checks for the lesson 03 exercises (self-attention), against course_utils.nn."""

from __future__ import annotations

import torch

from course_utils.checks import CheckFailed, expect_close, expect_equal, run_check
from course_utils.nn import causal_mask, merge_heads, repeat_kv, scaled_dot_product_attention, split_heads


def _qkv(B=2, nh=3, T=5, hs=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, nh, T, hs, generator=g) for _ in range(3))


def check_causal_mask(causal_mask_fn) -> None:
    """causal_mask_fn(T) -> boolean (T, T), True where query i may attend to key j (j <= i)."""

    def test():
        for T in (1, 4, 7):
            found = causal_mask_fn(T)
            if not isinstance(found, torch.Tensor):
                raise CheckFailed(f"causal_mask({T}) should return a tensor", "a torch.Tensor", found)
            expect_equal(tuple(found.shape), (T, T), f"shape of causal_mask({T})")
            if found.dtype != torch.bool:
                raise CheckFailed(f"causal_mask({T}) should be boolean", "dtype torch.bool", found.dtype,
                                  "compare with a number, or build it with torch.ones(T, T, dtype=torch.bool)")
            expected = causal_mask(T)
            if torch.equal(found, expected):
                continue
            if torch.equal(found, expected.T):
                raise CheckFailed("the mask is transposed: query 0 may see every key", expected.int(), found.int(),
                                  "row i is the query: it may see columns j <= i (the lower triangle, tril)")
            raise CheckFailed(f"causal_mask({T}) is not the lower triangle", expected.int(), found.int(),
                              "torch.tril keeps the diagonal and everything below it")

    run_check("causal mask", test)


def check_attention(attention_fn) -> None:
    """attention_fn(q, k, v, mask=None) -> (B, nh, T, hs): softmax(q k^T / sqrt(hs), masked) v."""

    def test():
        q, k, v = _qkv()
        T, hs = q.size(-2), q.size(-1)
        for mask, label in ((None, "without a mask"), (causal_mask(T), "with the causal mask")):
            found = attention_fn(q, k, v, mask) if mask is not None else attention_fn(q, k, v)
            expected = scaled_dot_product_attention(q, k, v, attn_mask=mask)
            if isinstance(found, torch.Tensor) and found.shape == expected.shape \
                    and not torch.allclose(found, expected, atol=1e-5):
                unscaled = scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
                if torch.allclose(found, unscaled, atol=1e-5):
                    raise CheckFailed(f"attention {label} is not scaled", expected, found,
                                      f"divide the scores q @ k^T by sqrt(head size) = sqrt({hs})")
                if mask is not None and torch.allclose(found, scaled_dot_product_attention(q, k, v), atol=1e-5):
                    raise CheckFailed("the mask is ignored: queries still see future keys", expected, found,
                                      "the mask is True where a query may attend: set the *other* scores to -inf "
                                      "(masked_fill) before the softmax")
                weights = torch.softmax(_scores(q, k, mask, hs), dim=-2)
                if torch.allclose(found, weights @ v, atol=1e-5):
                    raise CheckFailed(f"attention {label}: softmax over the wrong dimension", expected, found,
                                      "each query's weights over the keys must sum to 1: softmax(dim=-1)")
            expect_close(found, expected, f"attention output {label}",
                         "scores q·kᵀ divided by √hs, masked, a softmax over the keys (dim=-1), then "
                         "weight the values")

    run_check("scaled dot-product attention", test)


def _scores(q, k, mask, hs):
    s = q @ k.transpose(-2, -1) / hs ** 0.5
    return s if mask is None else s.masked_fill(~mask, float("-inf"))


def check_split_heads(split_heads_fn) -> None:
    """split_heads_fn(x, n_heads): (B, T, C) -> (B, n_heads, T, C // n_heads)."""

    def test():
        x = torch.arange(2 * 5 * 12, dtype=torch.float32).view(2, 5, 12)  # (B, T, C)
        for nh in (1, 3, 4):
            found = split_heads_fn(x, nh)
            expected = split_heads(x, nh)
            if isinstance(found, torch.Tensor) and found.shape == expected.shape and not torch.equal(found, expected) \
                    and torch.equal(found, x.reshape(expected.shape)):
                raise CheckFailed(f"split_heads(x, {nh}): right shape, tokens and heads mixed up", expected, found,
                                  "view as (B, T, nh, hs) first, then transpose(1, 2); a direct view to "
                                  "(B, nh, T, hs) cuts the numbers in the wrong places")
            expect_close(found, expected, f"split_heads(x, {nh})", "x.view(B, T, nh, C // nh).transpose(1, 2)")
            back = merge_heads(found)
            expect_close(back, x, f"merging the heads of split_heads(x, {nh}) again gives x back")

    run_check("split into heads", test)


def reference_causal_self_attention(x, w_q, w_k, w_v, w_o, n_head, n_kv_head):
    """The answer to the stretch exercise, from course_utils.nn (no RoPE)."""
    q = split_heads(x @ w_q.T, n_head)  # (B, nh, T, hs)
    k = repeat_kv(split_heads(x @ w_k.T, n_kv_head), n_head // n_kv_head)  # (B, nh, T, hs)
    v = repeat_kv(split_heads(x @ w_v.T, n_kv_head), n_head // n_kv_head)
    return merge_heads(scaled_dot_product_attention(q, k, v, is_causal=True)) @ w_o.T  # (B, T, C)


def check_causal_self_attention(mha_fn) -> None:
    """mha_fn(x, w_q, w_k, w_v, w_o, n_head, n_kv_head) -> (B, T, C); weights as nn.Linear stores them."""

    def test():
        g = torch.Generator().manual_seed(1)
        B, T, C = 2, 6, 16
        x = torch.randn(B, T, C, generator=g)
        for n_head, n_kv_head in ((4, 4), (4, 2), (4, 1)):
            hs = C // n_head
            w_q = torch.randn(n_head * hs, C, generator=g) / C ** 0.5
            w_k = torch.randn(n_kv_head * hs, C, generator=g) / C ** 0.5
            w_v = torch.randn(n_kv_head * hs, C, generator=g) / C ** 0.5
            w_o = torch.randn(C, n_head * hs, generator=g) / C ** 0.5
            found = mha_fn(x, w_q, w_k, w_v, w_o, n_head, n_kv_head)
            expected = reference_causal_self_attention(x, w_q, w_k, w_v, w_o, n_head, n_kv_head)
            kind = "multi-head" if n_head == n_kv_head else f"grouped-query ({n_kv_head} key/value heads)"
            if isinstance(found, torch.Tensor) and found.shape == expected.shape and not torch.allclose(
                    found, expected, atol=1e-5):
                q = split_heads(x @ w_q.T, n_head)
                k = repeat_kv(split_heads(x @ w_k.T, n_kv_head), n_head // n_kv_head)
                v = repeat_kv(split_heads(x @ w_v.T, n_kv_head), n_head // n_kv_head)
                if torch.allclose(found, merge_heads(scaled_dot_product_attention(q, k, v)) @ w_o.T, atol=1e-5):
                    raise CheckFailed(f"{kind} attention is not causal", expected, found,
                                      "each token may only look at itself and earlier tokens")
            expect_close(found, expected, f"{kind} attention output",
                         "project, split_heads, repeat_kv(k and v, n_head // n_kv_head), causal attention, "
                         "merge_heads, then the output projection x @ w_o.T")

    run_check("causal self-attention with grouped-query heads", test)
