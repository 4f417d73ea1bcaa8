"""Checks for the lesson 03 exercises: self-attention built step by step, checked against PyTorch.

Step 1 is a function of x alone; steps 2-5 are nn.Modules (SelfAttention, CausalAttention,
MultiHeadAttention, GroupedQueryAttention) whose projections are ``nn.Linear`` layers named
W_query, W_key, W_value (and W_out). The checks compare with course_utils.nn and, from step 3 on, with
``torch.nn.functional.scaled_dot_product_attention`` on the same weights, which the learner's code
itself may not call. Random numbers come from a torch.Generator; dropout draws from the global
generator inside ``torch.random.fork_rng``, so a check leaves the notebook's random state alone.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_utils.checks import CheckFailed, expect_close, expect_equal, run_check
from course_utils.nn import (Attention, GPTConfig, causal_mask, merge_heads, repeat_kv,
                             scaled_dot_product_attention, split_heads)

SDPA = F.scaled_dot_product_attention  # the reference; the learner's code gets a refusing stand-in


@contextlib.contextmanager
def _fused_attention_refused():
    """While the learner's code runs, F.scaled_dot_product_attention says that it is the part to write."""

    def refuse(*args, **kwargs):
        raise CheckFailed("torch.nn.functional.scaled_dot_product_attention was called",
                          "attention written with plain torch operations", "a call to the fused version",
                          "that is the part to write yourself; the check compares your result with it")

    F.scaled_dot_product_attention = refuse
    try:
        yield
    finally:
        F.scaled_dot_product_attention = SDPA


def _call(fn, *args):
    with _fused_attention_refused():
        return fn(*args)


def _run(title, body, learner, hint=""):
    """run_check(body(learner)), keeping the notebook's random state (the learner's layers draw from it)."""
    exercise = getattr(learner, "forward", learner)  # a module's forward is the learner's function

    def test():
        with torch.random.fork_rng(devices=[]):
            body(learner)
        return exercise  # in this closure, so that hint() knows which exercise was checked

    return run_check(title, test, hint)


def _same(found, expected) -> bool:
    return (isinstance(found, torch.Tensor) and found.shape == expected.shape
            and torch.allclose(found, expected, atol=1e-5))


def _randn(g, *shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


# ----------------------------------------------------------------------------- step 1: no weights

def _test_simple_attention(simple_attention):
    g = torch.Generator().manual_seed(0)
    x = _randn(g, 2, 5, 3)  # (B, T, C): T != C, so the weights (B, T, T) cannot pass for the output
    found = _call(simple_attention, x)
    expected = scaled_dot_product_attention(x, x, x, scale=1.0)  # (B, T, C)
    if isinstance(found, torch.Tensor) and found.shape == (2, 5, 5):
        raise CheckFailed("that has the shape of the attention weights (B, T, T)", tuple(expected.shape),
                          tuple(found.shape), "the context vectors are the weights times x: each token's "
                          "weighted average of all the token vectors")
    scores = x @ x.transpose(-2, -1)  # (B, T, T)
    if _same(found, scaled_dot_product_attention(x, x, x)):
        raise CheckFailed("the scores are scaled", expected, found,
                          "step 1 has no scaling; dividing by √C comes with the projections in exercise 2")
    if _same(found, torch.softmax(scores, dim=-2) @ x):
        raise CheckFailed("softmax over the wrong dimension", expected, found,
                          "each query's weights over the keys must sum to 1: softmax over the last dimension")
    if _same(found, scores @ x):
        raise CheckFailed("the weights are the raw scores", expected, found,
                          "turn each row of scores into weights that are positive and sum to 1: a softmax")
    if _same(found, scores / scores.sum(-1, keepdim=True) @ x):
        raise CheckFailed("the scores are divided by their sum, not passed through a softmax", expected,
                          found, "a plain sum can give negative weights; softmax makes them positive")
    expect_close(found, expected, "context vectors",
                 "scores x·xᵀ (B, T, T), a softmax over the keys, then the weighted sum of the rows of x")


def check_simple_attention(simple_attention) -> None:
    """simple_attention(x) -> (B, T, C): softmax(x xᵀ) x, no weights and no scaling."""
    _run("attention without weights", _test_simple_attention, simple_attention,
         hint="for a batch (B, T, C) swap only the last two dimensions: x.transpose(-2, -1) (x.T reverses "
              "all of them)")


# ----------------------------------------------------------------------------- step 2: trainable projections

def _projections(m, names):
    """The learner's nn.Linear layers W_query, … with their shapes; CheckFailed if missing or biased."""
    layers = []
    for name in names:
        layer = getattr(m, name, None)
        if not isinstance(layer, nn.Linear):
            raise CheckFailed(f"the module has no nn.Linear called {name}", f"self.{name} = nn.Linear(…)",
                              type(layer).__name__ if layer is not None else "no such attribute",
                              "the check sets its weights, so keep the names W_query, W_key, W_value, W_out")
        if layer.bias is not None:
            raise CheckFailed(f"{name} has a bias", "nn.Linear(…, bias=False)", "a bias vector",
                              "attention's projections have no bias here (nor in Llama-style models)")
        layers.append(layer)
    return layers


@torch.no_grad()
def _set_weights(m, g, names, identity=False):
    for layer in _projections(m, names):
        out_f, in_f = layer.weight.shape
        layer.weight.copy_(torch.eye(out_f, in_f) if identity else _randn(g, out_f, in_f, scale=in_f ** -0.5))


def _qkv(m, x):
    with torch.no_grad():
        return m.W_query(x), m.W_key(x), m.W_value(x)


def _expect_gradients(m, x, names, what):
    """A random projection of the output, backpropagated, reaches every projection's weight."""
    out = _call(m, x)
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        raise CheckFailed("the output is not connected to the weights: no gradient can flow back",
                          "an output that requires grad", out, f"compute {what} with the module's layers, "
                          "outside torch.no_grad() and without .detach()")
    g = torch.Generator().manual_seed(7)
    (out * torch.randn(out.shape, generator=g)).sum().backward()
    for name in names:
        grad = getattr(m, name).weight.grad
        if grad is None or not grad.abs().sum() > 0:
            raise CheckFailed(f"no gradient reached {name}.weight: training could not change it",
                              "a nonzero gradient", grad, f"compute {what} with self.{name}(…) in forward; a layer "
                              "made inside forward, .detach() or torch.no_grad() cuts the gradient off")


def _self_attention_mistakes(found, q, k, v, x):
    """CheckFailed naming the mistake if found is a typical wrong SelfAttention output."""
    d_in, d_out = x.size(-1), q.size(-1)
    expected = scaled_dot_product_attention(q, k, v)
    if _same(found, expected):
        return
    mistakes = [
        (scaled_dot_product_attention(q, k, v, scale=1.0), "the scores are not scaled",
         f"divide the scores by √d_out, the size of the keys (here √{d_out})"),
        (torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d_out), dim=-2) @ v, "softmax over the queries",
         "each query's weights over the keys must sum to 1: softmax over the last dimension"),
        (scaled_dot_product_attention(k, q, v), "queries and keys swapped",
         "score[i, j] is query i · key j, so the queries come first in the product")]
    if d_in != d_out:
        mistakes.append((scaled_dot_product_attention(q, k, v, scale=d_in ** -0.5), "scaled by √d_in instead "
                         "of √d_out", "the dot products are between queries and keys of size d_out: divide by √d_out"))
    for wrong, what, hint in mistakes:
        if _same(found, wrong):
            raise CheckFailed(what, expected, found, hint)


def _test_self_attention(SelfAttention):
    names = ("W_query", "W_key", "W_value")
    g = torch.Generator().manual_seed(1)
    m = SelfAttention(4, 4)
    if not any(p.requires_grad for p in m.parameters()):
        raise CheckFailed("the module has no trainable parameters", "W_query, W_key, W_value as nn.Linear",
                          "no parameters", "nn.Linear layers assigned to self in __init__ are parameters")
    x = _randn(g, 2, 6, 4)
    _set_weights(m, g, names, identity=True)
    with torch.no_grad():
        found = _call(m, x)
    _self_attention_mistakes(found, x, x, x, x)
    expect_close(found, scaled_dot_product_attention(x, x, x), "with W_query = W_key = W_value = identity, "
                 "step 1 with scaled scores", "q, k and v come from the three projections of x; scores q·kᵀ / "
                 "√d_out; softmax; times v")

    m = SelfAttention(5, 3)
    _set_weights(m, g, names)
    x = _randn(g, 2, 6, 5)  # (B, T, d_in)
    with torch.no_grad():
        found = _call(m, x)
    q, k, v = _qkv(m, x)  # (B, T, d_out) each
    if isinstance(found, torch.Tensor) and found.shape == (2, 6, 5):
        raise CheckFailed("the output has d_in = 5 numbers per token", (2, 6, 3), tuple(found.shape),
                          "weight the values v = W_value(x), not x itself")
    expect_equal(tuple(found.shape) if isinstance(found, torch.Tensor) else found, (2, 6, 3),
                 "shape of SelfAttention(5, 3) on x (2, 6, 5)")
    _self_attention_mistakes(found, q, k, v, x)
    expect_close(found, scaled_dot_product_attention(q, k, v), "SelfAttention(5, 3) with random weights",
                 "q, k, v = the three projections of x; softmax(q kᵀ / √d_out) over the keys; times v")

    m = SelfAttention(5, 3)
    _set_weights(m, g, names)
    _expect_gradients(m, x, names, "q, k and v")


def check_self_attention(SelfAttention) -> None:
    """SelfAttention(d_in, d_out): x (B, T, d_in) -> softmax(q kᵀ / √d_out) v, (B, T, d_out)."""
    _run("self-attention with trainable weights", _test_self_attention, SelfAttention,
         hint="nn.Linear layers are called like functions: self.W_query(x) is (B, T, d_out)")


# ----------------------------------------------------------------------------- step 3: mask and dropout

def _output_for_short_input(make, x, context_length):
    """Run the module on x (T < context_length); if only T == context_length works, say: slice the mask."""
    try:
        return _call(make(), x)
    except (RuntimeError, IndexError) as exc:
        try:
            _call(make(), torch.zeros(x.size(0), context_length, x.size(2)))
        except Exception:
            raise exc from None
        raise CheckFailed(f"it works for T = context_length = {context_length} only, not for T = {x.size(1)}",
                          f"an output for {x.size(1)} tokens", f"{type(exc).__name__}: {exc}",
                          "the buffer is (context_length, context_length); use its top-left (T, T) corner") from None


def _test_causal_attention(CausalAttention):
    names = ("W_query", "W_key", "W_value")
    L, p = 10, 0.4  # context length and dropout probability; the inputs use T = 6 < L
    g = torch.Generator().manual_seed(2)
    B, T, C = 2, 6, 8

    def make(dropout=p, identity_values=False):
        m = CausalAttention(C, C, L, dropout)
        _set_weights(m, g, names)
        if identity_values:
            with torch.no_grad():
                m.W_value.weight.copy_(torch.eye(C))
        return m

    m = make()
    buffers, params = dict(m.named_buffers()), dict(m.named_parameters())
    if "mask" in params:
        raise CheckFailed("the mask is a parameter", "a buffer", "nn.Parameter",
                          "register_buffer, not nn.Parameter: the optimizer must never change the mask")
    if "mask" not in buffers:
        raise CheckFailed("the module has no buffer called mask", "self.register_buffer('mask', …)",
                          sorted(buffers) or "no buffers", "a buffer moves with .to(device) and is saved with "
                          "the module, but is not trained")
    expect_equal(tuple(buffers["mask"].shape), (L, L), "shape of the mask buffer, (context_length, context_length)")

    # eval mode: no dropout, the same as PyTorch's causal attention
    x = _randn(g, B, T, C)
    m.eval()
    with torch.no_grad():
        found = _output_for_short_input(lambda: m, x, L)
        again = _call(m, x)
    q, k, v = _qkv(m, x)  # (B, T, d_out)
    expected = SDPA(q, k, v, is_causal=True)
    if isinstance(found, torch.Tensor) and found.shape == expected.shape:
        if torch.isnan(found).any():
            raise CheckFailed("NaN in the output: some query has every key masked", expected, found,
                              "the buffer is True where a query MAY attend: fill the scores where it is False")
        if not torch.equal(found, again):
            raise CheckFailed("in eval mode two calls give different outputs: dropout is still on", expected,
                              found, "use self.dropout (an nn.Dropout), which switches itself off in .eval()")
        if _same(found, SDPA(q, k, v)):
            raise CheckFailed("not causal: queries still see later tokens", expected, found,
                              "before the softmax, set the scores of the masked keys to -inf")
        if _same(found, SDPA(q, k, v, is_causal=True, scale=1.0)):
            raise CheckFailed("the scores are not scaled", expected, found, "divide them by √d_out")
    expect_close(found, expected, "eval mode: CausalAttention vs F.scaled_dot_product_attention(…, "
                 "is_causal=True)", "scaled scores, masked with the top-left (T, T) of the buffer, softmax, "
                 "then (dropout and) the weighted sum of v")

    # train mode, random values: dropout on the weights leaves no exact zero in the output
    m.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        with torch.no_grad():
            out = _call(m, x)
    zeros = out == 0  # a dropped weight zeroes no single number of a token's output (a whole row at most)
    if (zeros.any(-1) & ~zeros.all(-1)).any():
        raise CheckFailed("train mode: single numbers of the output are zeroed: dropout is applied to the "
                          "output", "dropout on the attention weights (B, T, T)", f"{int(zeros.sum())} zeros",
                          "drop attention weights (after the softmax), before they multiply v")

    # train mode, values = one-hot tokens: the output IS the (dropped-out) attention weights
    m = make(identity_values=True)
    x = torch.eye(T, C).expand(B, T, C)  # token t is the unit vector e_t, and so is its value
    with torch.no_grad():
        w_eval = _call(m.eval(), x)[..., :T]  # (B, T, T)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            w_train = _call(m.train(), x)[..., :T]
    allowed = causal_mask(T).expand(B, T, T)
    if (w_train[~allowed] != 0).any():
        raise CheckFailed("train mode: later tokens get attention weight", 0.0,
                          w_train[~allowed].abs().max().item(), "mask the scores before the softmax, "
                          "then apply dropout to the weights")
    dropped = (w_train == 0) & allowed
    if not dropped.any():
        raise CheckFailed(f"train mode with dropout={p}: no attention weight was zeroed",
                          f"about {p:.0%} of the weights zeroed", "none",
                          "apply self.dropout to the attention weights, after the softmax")
    kept = allowed & ~dropped
    if torch.allclose(w_train[kept], w_eval[kept], atol=1e-6):
        raise CheckFailed("train mode: the surviving weights are not rescaled", 1 / (1 - p),
                          1.0, "nn.Dropout multiplies the survivors by 1/(1-p) so the expected sum stays 1")
    expect_close(w_train[kept], w_eval[kept] / (1 - p), f"train mode: surviving weights = eval weights / "
                 f"(1 - {p})", "dropout on the softmax weights, nothing else changed")


def check_causal_attention(CausalAttention) -> None:
    """CausalAttention(d_in, d_out, context_length, dropout): causal, dropout on the weights in train mode."""
    _run("causal attention with dropout", _test_causal_attention, CausalAttention)


# ----------------------------------------------------------------------------- steps 4-5: heads

def _split_no_transpose(t, n):
    B, T, C = t.shape
    return t.reshape(B, n, T, C // n)


def _merge_no_transpose(y):
    B, nh, T, hs = y.shape
    return y.reshape(B, T, nh * hs)


def _reference_heads(m, x, n_heads, n_kv_heads, split=split_heads, merge=merge_heads, repeat=repeat_kv,
                     out=True, **sdpa):
    """W_out(merge(SDPA(split q, repeat(split k), repeat(split v)))) with the module's weights."""
    n_rep = n_heads // n_kv_heads
    with torch.no_grad():
        q, k, v = _qkv(m, x)
        q, k, v = split(q, n_heads), repeat(split(k, n_kv_heads), n_rep), repeat(split(v, n_kv_heads), n_rep)
        y = merge(SDPA(q, k, v, **({"is_causal": True} | sdpa)))  # (B, T, d_out)
        return m.W_out(y) if out else y


def _course_attention(m, x, n_heads, n_kv_heads):
    """course_utils.nn.Attention (lesson 04's model) with the module's weights and RoPE switched off."""
    B, T, C = x.shape
    hs = m.W_query.out_features // n_heads
    a = Attention(GPTConfig(n_embd=C, n_head=n_heads, n_kv_head=n_kv_heads, head_dim=hs)).eval()
    with torch.no_grad():
        for theirs, ours in ((a.q_proj, m.W_query), (a.k_proj, m.W_key), (a.v_proj, m.W_value),
                             (a.o_proj, m.W_out)):
            theirs.weight.copy_(ours.weight)
        y, _ = a(x, torch.ones(T, hs), torch.zeros(T, hs))  # cos = 1, sin = 0: no rotation
    return y


def _check_heads(make, n_heads, n_kv_heads, g, label):
    """One configuration: eval mode vs SDPA and course_utils.nn.Attention, with the classic mistakes named."""
    names = ("W_query", "W_key", "W_value", "W_out")
    m = make()
    _set_weights(m, g, names)
    m.eval()
    d_in = m.W_query.in_features
    x = _randn(g, 2, 7, d_in)
    with torch.no_grad():
        found = _output_for_short_input(lambda: m, x, 16)
    expected = _reference_heads(m, x, n_heads, n_kv_heads)
    hs = m.W_query.out_features // n_heads
    if isinstance(found, torch.Tensor) and found.shape == expected.shape and not _same(found, expected):
        for wrong, what, hint in (
                (_reference_heads(m, x, n_heads, n_kv_heads, split=_split_no_transpose, merge=_merge_no_transpose),
                 "right shapes, but the heads hold the wrong numbers: a view to (B, nh, T, hs) without transpose",
                 "view as (B, T, nh, hs) first, so each token's numbers stay together, then swap tokens and heads "
                 "with transpose(1, 2); undo both when merging"),
                (_reference_heads(m, x, n_heads, n_kv_heads, merge=_merge_no_transpose),
                 "the heads are split right but merged without moving them back behind the tokens",
                 "(B, nh, T, hs) -> transpose(1, 2) -> (B, T, nh, hs) -> reshape to (B, T, nh * hs)"),
                (_reference_heads(m, x, n_heads, n_kv_heads, split=_split_no_transpose),
                 "the heads are merged right but split with a view to (B, nh, T, hs), without transpose",
                 "view as (B, T, nh, hs) first, then transpose(1, 2)"),
                (_reference_heads(m, x, n_heads, n_kv_heads, out=False), "the output projection W_out is missing",
                 "after merging the heads, mix them with self.W_out"),
                (_reference_heads(m, x, n_heads, n_kv_heads, is_causal=False), "not causal",
                 "mask the scores of later tokens in every head"),
                (_reference_heads(m, x, n_heads, n_kv_heads, scale=m.W_query.out_features ** -0.5),
                 "scaled by √d_out instead of √head_dim", f"each head's dot products have head_dim = {hs} terms"),
                (_reference_heads(m, x, n_heads, n_kv_heads,
                                  repeat=lambda t, r: t.repeat(1, r, 1, 1) if r > 1 else t),
                 "key/value heads repeated in the wrong order (repeat instead of repeat_interleave)",
                 "each key/value head serves consecutive query heads: for 2 of them and 4 query heads the order "
                 "is 0, 0, 1, 1")):
            if _same(found, wrong):
                raise CheckFailed(f"{label}: {what}", expected, found, hint)
    expect_close(found, expected, f"{label}: output vs F.scaled_dot_product_attention with the same weights",
                 "project, split into heads, causal attention in every head, merge the heads, W_out")
    if d_in == m.W_out.out_features:
        expect_close(found, _course_attention(m, x, n_heads, n_kv_heads),
                     f"{label}: output vs course_utils.nn.Attention with the same weights (RoPE off)")


def _check_dropout_used(m, x, label):
    m.train()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        a, b = _call(m, x), _call(m, x)
    if torch.equal(a, b):
        raise CheckFailed(f"{label}, train mode with dropout=0.5: two calls give the same output",
                          "different outputs (different weights dropped)", "identical outputs",
                          "apply self.dropout to the attention weights")


def _test_multi_head_attention(MultiHeadAttention):
    g = torch.Generator().manual_seed(3)
    for d_in, d_out, nh in ((12, 12, 3), (12, 12, 1), (10, 12, 4)):
        label = f"MultiHeadAttention({d_in}, {d_out}, n_heads={nh})"
        _check_heads(lambda: MultiHeadAttention(d_in, d_out, nh, 0.0, 16),
                     nh, nh, g, label)
    m = MultiHeadAttention(12, 12, 3, 0.5, 16)
    _set_weights(m, g, ("W_query", "W_key", "W_value", "W_out"))
    x = _randn(g, 2, 7, 12)
    _check_dropout_used(m, x, "MultiHeadAttention")
    m.eval()
    _expect_gradients(m, x, ("W_query", "W_key", "W_value", "W_out"), "q, k, v and the output")


def check_multi_head_attention(MultiHeadAttention) -> None:
    """MultiHeadAttention(d_in, d_out, n_heads, dropout, context_length): causal multi-head attention + W_out."""
    _run("multi-head attention", _test_multi_head_attention, MultiHeadAttention,
         hint="after a transpose the tensor is not contiguous: .reshape works where .view fails")


def _test_grouped_query_attention(GroupedQueryAttention):
    g = torch.Generator().manual_seed(4)
    for n_kv in (4, 2, 1):
        label = "4 query heads, " + (f"{n_kv} key/value heads" if n_kv > 1 else "1 key/value head")
        _check_heads(lambda: GroupedQueryAttention(16, 16, 4, n_kv, 0.0, 16),
                     4, n_kv, g, label)


def check_grouped_query_attention(GroupedQueryAttention) -> None:
    """GroupedQueryAttention(d_in, d_out, n_heads, n_kv_heads, dropout, context_length)."""
    _run("grouped-query attention", _test_grouped_query_attention, GroupedQueryAttention,
         hint="k and v have n_kv_heads heads: repeat each one n_heads // n_kv_heads times along the head "
              "dimension (dim 1) before the scores")
